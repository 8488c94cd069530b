"""The verifier's reasons in Chinese, for the verification page (the API and the command
line give them in English, as the verifier words them). A reason this table does not know
is shown as it is."""

from __future__ import annotations

import re

_FIXED = {
    "genuine and in force": "真实有效",
    "valid": "有效",
    "suspended": "已暂扣",
    "revoked": "已注销",
    "expired": "已过期",
    "superseded by a later version": "已被新版本取代",
    "print reported lost": "该纸质证照已挂失",
    "print reported destroyed": "该纸质证照已收回销毁",
    "revoked, or this paper print was reported lost": "已注销，或该纸质证照已挂失",
    "signed in the future: check this device's clock": "签发时间晚于当前时间，请检查本设备时钟",
    "signed by a key that is not on the trust list": "签名密钥不在信任列表中",
    "signed outside the validity of its key's certificate": "签名时间不在签名证书有效期内",
    "not found in the licence registry": "证照库中无此证照",
    "the cached status list has expired: refresh when online": "缓存的状态列表已过期，请联网更新",
}
_PATTERNS = (
    (re.compile(r"superseded by version (\d+)"), r"已被第\1版取代"),
    (re.compile(r"expired after (\d{4}-\d{2}-\d{2})"), r"已于\1到期"),
    (re.compile(r"valid from (\d{4}-\d{2}-\d{2})"), r"自\1起生效"),
    (
        re.compile(r"this dynamic QR expired at (.+): ask the holder to refresh it"),
        r"该亮证码已于\1过期，请持证人刷新",
    ),
    (re.compile(r"the signature is not valid: .*"), "签名无效"),
    (re.compile(r"the status list is (\d+) minutes old"), r"状态列表为\1分钟前的数据"),
)


def reason_zh(reason: str) -> str:
    if reason in _FIXED:
        return _FIXED[reason]
    for pattern, replacement in _PATTERNS:
        if pattern.fullmatch(reason):
            return pattern.sub(replacement, reason)
    return reason
