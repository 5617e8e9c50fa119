// UI strings in English and Simplified Chinese. Customer content is never translated or parsed.
export const STRINGS = {
  en: {
    username: "Username", password: "Password", login: "Log in", logout: "Log out", inbox: "Inbox",
    myPerformance: "My performance", wallboard: "Wallboard", state: "State", available: "Available",
    away: "Away", offline: "Offline", break: "Break", lunch: "Lunch", training: "Training", meeting: "Meeting",
    conversations: "Conversations", subject: "Subject", typeReply: "Type a reply", canned: "Canned responses",
    searchKb: "Search answers", internalNote: "Internal note", send: "Send", customer: "Customer",
    transfer: "Transfer", wrapUp: "Wrap up", disposition: "Disposition code", resolved: "Resolved",
    perfHint: "Your own figures, today and this week, beside the team average.", trend: "Handled per day",
    slByHour: "Service level by hour", agents: "Agents", agent: "Agent", work: "Work", force: "Force state",
    whyAgent: "Why this agent", explain: "Explain", accept: "Accept", reject: "Reject",
    newOffer: "New conversation", waiting: "waiting", noConversation: "Pick a conversation",
    today: "Today", week: "This week", team: "Team", handled: "Handled", aht: "AHT", fcr: "FCR", csat: "CSAT",
    occupancy: "Occupancy", waitingCount: "Waiting", longestWait: "Longest wait", serviceLevel: "Service level",
    target: "target", estimatedWait: "Est. wait", segments: "segments", chars: "characters", note: "Note",
    toQueue: "Queue", toAgent: "Agent", sent: "sent", delivered: "delivered", failed: "failed",
    reconnecting: "Reconnecting…", kpisUnavailable: "KPIs are not available right now.",
    wrappedUp: "Wrapped up", identity: "Identity", channel: "Channel", queue: "Queue", unread: "unread",
    CHANNEL_SMS: "SMS", CHANNEL_EMAIL: "Email", CHANNEL_VOICE: "Voice", CHANNEL_WEBCHAT: "Chat",
    CHANNEL_TELEGRAM: "Telegram", CHANNEL_WHATSAPP: "WhatsApp", CHANNEL_WECHAT: "WeChat",
    loginFailed: "Wrong username or password", tooMany: "Too many attempts, wait a few minutes",
    knowledgeBase: "Knowledge base and canned responses", kbTitle: "Title", kbBody: "Answer", save: "Save", saved: "Saved",
    mergeCustomer: "Merge another record", merge: "Merge", identityPlaceholder: "+86… / name@example.com",
    myQa: "My quality evaluations", evaluator: "evaluator", acknowledge: "Acknowledge", dispute: "Dispute",
    disputeReason: "Why do you disagree?", submitted: "to review", acknowledged: "acknowledged", disputed: "disputed",
  },
  zh: {
    username: "用户名", password: "密码", login: "登录", logout: "退出", inbox: "收件箱",
    myPerformance: "我的绩效", wallboard: "监控大屏", state: "状态", available: "空闲",
    away: "离开", offline: "离线", break: "休息", lunch: "午餐", training: "培训", meeting: "会议",
    conversations: "会话", subject: "主题", typeReply: "输入回复", canned: "常用回复",
    searchKb: "搜索知识库", internalNote: "内部备注", send: "发送", customer: "客户",
    transfer: "转接", wrapUp: "话后处理", disposition: "处理结果代码", resolved: "已解决",
    perfHint: "你自己的数据：今天和本周，与团队平均对比。", trend: "每日处理量",
    slByHour: "每小时服务水平", agents: "座席", agent: "座席", work: "工作量", force: "强制状态",
    whyAgent: "为何分配给该座席", explain: "说明", accept: "接受", reject: "拒绝",
    newOffer: "新会话", waiting: "等待", noConversation: "请选择一个会话",
    today: "今天", week: "本周", team: "团队", handled: "处理量", aht: "平均处理时长", fcr: "首次解决率", csat: "满意度",
    occupancy: "占用率", waitingCount: "排队数", longestWait: "最长等待", serviceLevel: "服务水平",
    target: "目标", estimatedWait: "预计等待", segments: "条", chars: "字符", note: "备注",
    toQueue: "队列", toAgent: "座席", sent: "已发送", delivered: "已送达", failed: "失败",
    reconnecting: "正在重新连接…", kpisUnavailable: "暂时无法获取绩效数据。",
    wrappedUp: "已完成话后处理", identity: "身份", channel: "渠道", queue: "队列", unread: "未读",
    CHANNEL_SMS: "短信", CHANNEL_EMAIL: "邮件", CHANNEL_VOICE: "语音", CHANNEL_WEBCHAT: "网页聊天",
    CHANNEL_TELEGRAM: "Telegram", CHANNEL_WHATSAPP: "WhatsApp", CHANNEL_WECHAT: "微信",
    loginFailed: "用户名或密码错误", tooMany: "尝试次数过多，请稍后再试",
    knowledgeBase: "知识库与常用回复", kbTitle: "标题", kbBody: "答案", save: "保存", saved: "已保存",
    mergeCustomer: "合并其他客户记录", merge: "合并", identityPlaceholder: "+86… / 邮箱地址",
    myQa: "我的质检评分", evaluator: "质检员", acknowledge: "确认", dispute: "申诉",
    disputeReason: "请说明申诉理由", submitted: "待确认", acknowledged: "已确认", disputed: "申诉中",
  },
};

export function translator(lang) {
  const table = STRINGS[lang] || STRINGS.en;
  return (key) => table[key] || STRINGS.en[key] || key;
}

export function applyTranslations(root, t) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
}
