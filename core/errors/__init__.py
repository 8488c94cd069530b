"""The error model: RFC 9457 problem details, and RFC 6749 errors on OAuth endpoints."""

from core.errors.oauth import OAuthError
from core.errors.problem import PROBLEM_MEDIA_TYPE, Problem, ProblemError, for_status

__all__ = ["PROBLEM_MEDIA_TYPE", "OAuthError", "Problem", "ProblemError", "for_status"]
