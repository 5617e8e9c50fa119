"""The widget's configuration (pre-chat topics with their labels in en and zh-CN), read from a YAML file."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from omnihub.chat.headers import secure_headers
from omnihub.common.config import fail

LANGUAGES = ("en", "zh-CN")
TOPIC_ID = re.compile(r"^[a-z0-9_-]{1,40}$")


class Topic(BaseModel):
    """One pre-chat topic: the id sent as the routing topic, its label per language."""

    id: str = Field(pattern=TOPIC_ID.pattern)
    labels: dict[str, str]


class WidgetConfig(BaseModel):
    """What the widget script fetches from GET /widget/config."""

    topics: list[Topic]

    def knows(self, topic: str) -> bool:
        """True when `topic` is one of the configured topic ids."""
        return any(t.id == topic for t in self.topics)


DEFAULT = WidgetConfig(topics=[
    Topic(id="support", labels={"en": "Support", "zh-CN": "技术支持"}),
    Topic(id="sales", labels={"en": "Sales", "zh-CN": "销售咨询"}),
    Topic(id="billing", labels={"en": "Billing", "zh-CN": "账单"}),
])


def load_widget_config(path: Path) -> WidgetConfig:
    """The widget file's `topics:` (the defaults when the file is missing), or exit 2 naming the problem."""
    if not path.exists():
        return DEFAULT
    try:
        data = yaml.safe_load(path.read_text()) or {}
        loaded = WidgetConfig.model_validate({"topics": data.get("topics", [])})
    except (OSError, yaml.YAMLError, ValidationError, AttributeError) as exc:
        fail(f"invalid widget file {path}: {exc}")
    for topic in loaded.topics:
        missing = [lang for lang in LANGUAGES if not topic.labels.get(lang, "").strip()]
        if missing:
            fail(f"invalid widget file {path}: topic {topic.id!r} has no label in {', '.join(missing)}")
    if len({t.id for t in loaded.topics}) != len(loaded.topics):
        fail(f"invalid widget file {path}: a topic id appears twice")
    return loaded if loaded.topics else DEFAULT


def register(router: web.UrlDispatcher, config: WidgetConfig) -> None:
    """GET /widget/config: the topics, public (the embedding page's visitors read it), cacheable for a minute."""

    async def widget_config(_: web.Request) -> web.StreamResponse:
        resp = web.json_response(config.model_dump())
        resp.headers["Cache-Control"] = "public, max-age=60"
        return secure_headers(resp)

    router.add_get("/widget/config", widget_config)
