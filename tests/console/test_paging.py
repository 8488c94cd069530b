"""Server-side pagination."""

from __future__ import annotations

from console.paging import paginate


def test_pages() -> None:
    items = list(range(23))
    first = paginate(items, 1, size=10)
    assert first.items == list(range(10)) and first.pages == 3 and first.total == 23
    assert first.previous is None and first.next == 2
    last = paginate(items, 3, size=10)
    assert last.items == [20, 21, 22] and last.next is None and last.previous == 2
    assert paginate(items, 99, size=10).number == 3  # past the end: the last page
    assert paginate(items, 0, size=10).number == 1


def test_an_empty_list_has_one_empty_page() -> None:
    page = paginate([], 1)
    assert page.items == [] and page.pages == 1 and page.total == 0
