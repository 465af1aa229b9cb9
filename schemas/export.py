"""JSON Schema per event and an AsyncAPI document of the topics: the published contracts."""
from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, TypeAdapter

from schemas.topics import TOPICS, TopicNames


def all_events() -> list[type[BaseModel]]:
    seen: dict[str, type[BaseModel]] = {}
    for topic in TOPICS:
        for model in topic.events:
            seen[model.__name__] = model
    return list(seen.values())


def export(directory: Path, names: TopicNames) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for model in all_events():
        path = directory / f"{model.__name__}.schema.json"
        schema = TypeAdapter(model).json_schema(mode="serialization")
        schema["$id"] = path.name
        path.write_text(json.dumps(schema, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    path = directory / "asyncapi.json"
    path.write_text(json.dumps(asyncapi(names), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    written.append(path)
    return written


def asyncapi(names: TopicNames) -> dict:
    channels = {}
    for topic in TOPICS:
        messages = [{"name": m.__name__, "payload": {"$ref": f"{m.__name__}.schema.json"}} for m in topic.events]
        channels[names.of(topic)] = {
            "description": f"{topic.description}. Kafka key: {topic.key}.",
            "bindings": {"kafka": {"partitions": names.partitions_of(topic)}},
            "subscribe": {"message": messages[0] if len(messages) == 1 else {"oneOf": messages}},
        }
    return {
        "asyncapi": "2.6.0",
        "info": {"title": "ERS events", "version": "1"},
        "defaultContentType": "application/json",
        "channels": channels,
    }
