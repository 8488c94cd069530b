"""Server-rendered pages of the provider: Chinese first, English on request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=select_autoescape(["html"]),
)

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "service": "政务服务统一身份认证",
        "language": "语言",
        "other_language": "English",
        "title": "登录",
        "login_heading": "统一身份认证登录",
        "login_for": "登录后将返回",
        "username": "身份证号或手机号",
        "username_help": "请输入18位公民身份号码或11位手机号",
        "password": "密码",
        "login_button": "登录",
        "login_failed": "账号或密码不正确，请重试。",
        "choose_heading": "选择办事身份",
        "choose_legend": "您要以哪个身份办理？",
        "myself": "本人",
        "continue": "继续",
        "consent_heading": "授权确认",
        "consent_asks": "请求获取您的以下信息",
        "acting_for": "代表",
        "allow": "同意",
        "deny": "拒绝",
        "purpose": "用途",
        "error_heading": "出错了",
        "expired": "登录请求已过期，请返回原网站重新发起。",
        "bad_request": "请求无效。",
        "logout_heading": "退出登录",
        "logout_question": "要退出统一身份认证吗？退出后各渠道都需要重新登录。",
        "logout_button": "退出",
        "logged_out": "您已退出登录。",
        "second_factor_heading": "二次验证",
        "second_factor_intro": "此业务需要更高的认证级别，请完成二次验证。",
        "otp": "验证码",
        "method_totp": "身份验证器应用中的6位动态码",
        "method_sms": "发送到您预留手机号的短信验证码",
        "send_sms": "发送短信验证码",
        "verify": "验证",
        "otp_failed": "验证码不正确或已过期。",
        "sms_sent": "验证码已发送，请查收短信。",
        "sms_too_soon": "请在{seconds}秒后再发送。",
        "method_passkey": "使用本设备或安全密钥上的通行密钥（需验证指纹、面容或PIN）",
        "use_passkey": "使用通行密钥",
        "passkey_failed": "通行密钥验证未通过，请重试。",
        "passkey_needed": "此业务需要通行密钥。请先在个人中心登记通行密钥。",
        "scope.openid": "您的用户标识",
        "scope.profile": "姓名和脱敏身份证号",
        "scope.phone": "手机号",
        "scope.id_number": "完整身份证号",
        "scope.organisation": "所代表单位的名称和统一社会信用代码",
        "scope.offline_access": "在您离开后继续访问（刷新令牌）",
        "scope.account": "管理您的账号：个人信息、登录会话、授权记录、代办人、电子证照及其使用记录",
        # -- device grant (RFC 8628): the verification page --
        "device_heading": "授权自助终端",
        "device_kiosk": "自助终端授权",
        "device_enter": "请输入自助终端屏幕上显示的验证码。",
        "device_code_label": "终端验证码",
        "device_code_help": "8个字母，例如 BCDF-GHJK",
        "device_check": "请确认下方验证码与终端屏幕上显示的一致：",
        "device_asks": "请求以您本人的身份办理，并获取您的以下信息",
        "device_approved": "已授权。请回到自助终端继续办理。",
        "device_denied": "已拒绝，自助终端不会获得您的任何信息。",
        "device_unknown": "验证码不正确或已过期，请核对自助终端屏幕上的验证码。",
        "device_answered": "该授权请求已处理过。",
        "device_too_many": "尝试次数过多，请稍后再试。",
        # -- counter and hotline (CIBA): the approval pages --
        "ciba_heading": "确认窗口或热线办理",
        "ciba_none": "没有等待您确认的请求。",
        "ciba_asks": "请求以您本人的身份办理，并获取您的以下信息",
        "ciba_binding": "请核对工作人员告知的核对码：",
        "ciba_code_label": "短信验证码",
        "ciba_approved": "已确认。请回到窗口或电话中继续办理。",
        "ciba_denied": "已拒绝，对方不会获得您的任何信息。",
        "ciba_unknown": "该请求不存在、已过期或已处理。",
        "ciba_code_failed": "验证码不正确或已过期。",
    },
    "en": {
        "service": "Government services single sign-on",
        "language": "Language",
        "other_language": "中文",
        "title": "Log in",
        "login_heading": "Log in",
        "login_for": "You will return to",
        "username": "ID number or mobile number",
        "username_help": "Your 18-character resident ID number or 11-digit mobile number",
        "password": "Password",
        "login_button": "Log in",
        "login_failed": "The account or password is not correct. Try again.",
        "choose_heading": "Choose who you act as",
        "choose_legend": "Act as",
        "myself": "Myself",
        "continue": "Continue",
        "consent_heading": "Allow access",
        "consent_asks": "asks for",
        "acting_for": "acting for",
        "allow": "Allow",
        "deny": "Deny",
        "purpose": "Purpose",
        "error_heading": "Something went wrong",
        "expired": "This login request has expired. Go back to the site and start again.",
        "bad_request": "The request is not valid.",
        "logout_heading": "Log out",
        "logout_question": "Log out of single sign-on? Every channel will ask you to log in again.",
        "logout_button": "Log out",
        "logged_out": "You have logged out.",
        "second_factor_heading": "Second factor",
        "second_factor_intro": "This service needs a higher level of assurance: confirm it is you.",
        "otp": "Code",
        "method_totp": "the 6-digit code of your authenticator app",
        "method_sms": "a code sent by SMS to your registered mobile number",
        "send_sms": "Send an SMS code",
        "verify": "Verify",
        "otp_failed": "The code is not correct or has expired.",
        "sms_sent": "The code has been sent by SMS.",
        "sms_too_soon": "Wait {seconds} seconds before sending another code.",
        "method_passkey": "a passkey on this device or a security key (fingerprint, face or PIN)",
        "use_passkey": "Use a passkey",
        "passkey_failed": "The passkey could not be verified. Try again.",
        "passkey_needed": "This service needs a passkey. Register one in your account first.",
        "scope.openid": "your user identifier",
        "scope.profile": "your name and masked ID number",
        "scope.phone": "your mobile number",
        "scope.id_number": "your full ID number",
        "scope.organisation": "the name and credit code of the organisation you act for",
        "scope.offline_access": "access while you are away (refresh tokens)",
        "scope.account": (
            "your account: profile, login sessions, consents, agents, "
            "your licences and who read them"
        ),
        # -- device grant (RFC 8628): the verification page --
        "device_heading": "Allow a self-service kiosk",
        "device_kiosk": "the kiosk that asks for your approval",
        "device_enter": "Enter the code shown on the kiosk screen.",
        "device_code_label": "Kiosk code",
        "device_code_help": "8 letters, for example BCDF-GHJK",
        "device_check": "Check that this code is the one on the kiosk screen:",
        "device_asks": "asks to act as you, with",
        "device_approved": "Done. Continue at the kiosk.",
        "device_denied": "Denied. The kiosk gets nothing about you.",
        "device_unknown": "This code is not valid or has expired. Check the code on the kiosk.",
        "device_answered": "This request has already been answered.",
        "device_too_many": "Too many attempts. Try again later.",
        # -- counter and hotline (CIBA): the approval pages --
        "ciba_heading": "Confirm a counter or hotline request",
        "ciba_none": "No request is waiting for your answer.",
        "ciba_asks": "asks to act as you, with",
        "ciba_binding": "Check the code the staff member tells you:",
        "ciba_code_label": "SMS code",
        "ciba_approved": "Confirmed. Continue at the counter or on the phone.",
        "ciba_denied": "Denied. They get nothing about you.",
        "ciba_unknown": "This request does not exist, has expired or was answered.",
        "ciba_code_failed": "The code is not correct or has expired.",
    },
}


def language(request: Request) -> str:
    wanted = request.query_params.get("lang") or request.cookies.get("govtrust_lang")
    if wanted in TEXT:
        return wanted
    accept = request.headers.get("accept-language", "")
    return "en" if accept.lower().startswith("en") else "zh"


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    lang = language(request)
    html = TEMPLATES.get_template(template).render(lang=lang, t=TEXT[lang], **context)
    response = HTMLResponse(html, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    if request.query_params.get("lang") in TEXT:
        response.set_cookie("govtrust_lang", lang, max_age=31536000, samesite="lax")
    return response


def scope_labels(lang: str, scopes: list[str]) -> list[str]:
    return [TEXT[lang].get(f"scope.{scope}", scope) for scope in scopes]
