"""The words of a legal representative's agent pages."""

from __future__ import annotations

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "manage_agents": "管理代办人",
        "manage_agents_label": "管理代办人：{organisation}",
        "agents_title": "{organisation}的代办人",
        "agents_intro": (
            "作为法定代表人，您可以授权他人代表本单位办理业务，并随时撤回。"
            "撤回立即生效，代办人为本单位取得的授权同时失效。"
        ),
        "no_agents": "本单位还没有代办人。",
        "agent_period": "授权期限",
        "agent_state": "状态",
        "agent_state.valid": "有效",
        "agent_state.withdrawn": "已撤回",
        "agent_state.expired": "已到期",
        "withdraw_agent": "撤回代办授权",
        "withdraw_agent_label": "撤回代办授权：{name}",
        "grant_agent": "授权代办人",
        "agent_id_number": "代办人的公民身份号码",
        "agent_id_help": "代办人须已在本平台实名注册。身份证号只用于查找此人，不会显示在地址栏中。",
        "agent_rights": "授予的权限（至少一项）",
        "agent_until": "授权截止日期（含当日）",
        "agent_until_value": "自确认时起至 {until}（含）",
        "agent_confirm_intro": "请核对以下授权。确认后，此人即可代表本单位办理所选事项。",
        "agent_withdraw_intro": "撤回立即生效，此人为本单位取得的所有授权同时失效。",
        "agent_reason_help": "原因记入审计日志，请勿填写身份证号等个人信息。",
        "agent_done.granted": "代办授权已生效。",
        "agent_done.withdrawn": "代办授权已撤回。",
        "agent_error.person": "找不到使用该身份号码实名注册的人员。",
        "agent_error.rights": "请至少选择一项列出的权限。",
        "agent_error.until": "截止日期不得早于今天。",
        "agent_error.held": "此人已是本单位的代办人。如需改变权限或期限，请先撤回原授权。",
        "agent_error.expired": "该授权已确认或确认已过期，请查看代办人列表，必要时重新填写。",
        "agent_error.lookups": "查找人员的次数过多，请一小时后再试。",
        "right.licence:read": "查看本单位证照",
        "right.seal:use": "使用本单位印章",
        "right.licence:admin": "管理证照",
        "right.seal:admin": "管理印章",
    },
    "en": {
        "manage_agents": "Manage agents",
        "manage_agents_label": "Manage agents: {organisation}",
        "agents_title": "Agents of {organisation}",
        "agents_intro": (
            "As legal representative you may authorise others to act for the organisation, "
            "and withdraw that at any time. A withdrawal takes effect at once and ends every "
            "authorisation the agent obtained for the organisation."
        ),
        "no_agents": "The organisation has no agents yet.",
        "agent_period": "Period",
        "agent_state": "State",
        "agent_state.valid": "Valid",
        "agent_state.withdrawn": "Withdrawn",
        "agent_state.expired": "Expired",
        "withdraw_agent": "Withdraw agent",
        "withdraw_agent_label": "Withdraw agent: {name}",
        "grant_agent": "Authorise an agent",
        "agent_id_number": "The agent's resident ID number",
        "agent_id_help": "The agent must be registered with their real name. The ID number is "
        "used only to find them and never appears in the address bar.",
        "agent_rights": "Rights granted (at least one)",
        "agent_until": "Valid until (inclusive)",
        "agent_until_value": "From confirmation until {until} (inclusive)",
        "agent_confirm_intro": "Check the authorisation. Once confirmed, this person may act "
        "for the organisation in the chosen matters.",
        "agent_withdraw_intro": "The withdrawal takes effect at once and ends every "
        "authorisation the person obtained for the organisation.",
        "agent_reason_help": "The reason goes into the audit trail: no ID number or other "
        "personal data.",
        "agent_done.granted": "The agent has been authorised.",
        "agent_done.withdrawn": "The agent's authority has been withdrawn.",
        "agent_error.person": "Nobody registered with this ID number was found.",
        "agent_error.rights": "Choose at least one of the rights listed.",
        "agent_error.until": "The end date must not be before today.",
        "agent_error.held": "This person is already an agent of the organisation. To change "
        "their rights or period, withdraw the authorisation first.",
        "agent_error.expired": "This authorisation was confirmed already, or its confirmation "
        "expired: check the list of agents and fill in the form again if need be.",
        "agent_error.lookups": "Too many people looked up. Try again in an hour.",
        "right.licence:read": "View the organisation's licences",
        "right.seal:use": "Use the organisation's seals",
        "right.licence:admin": "Administer licences",
        "right.seal:admin": "Administer seals",
    },
}
