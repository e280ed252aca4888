"""/v1/rules: reviewers edit the draft, dry-run it, publish it and roll back. Bearer tokens.

A rule in these bodies is exactly a pack rule (`ruleset/schema.py`). Edits change the draft;
only publish and rollback change what scores, and the reload watcher makes that live.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from moderation.api.auth import DraftCacheDep, PublisherDep, ReviewerDep, StoreDep, WatcherDep
from moderation.api.deps import ModeratorDep, SettingsDep
from moderation.api.schemas import ERRORS, Layers, Text, check_text, layer_set
from moderation.ruleset import store, workflow
from moderation.ruleset.compile import RulesetError
from moderation.types import Kind, Label, ProductCategory, RuleCategory

_RESPONSES: dict[int | str, dict[str, Any]] = {code: dict(doc) for code, doc in ERRORS.items()}
router = APIRouter(prefix="/v1/rules", tags=["rules"], responses=_RESPONSES)

RuleBody = Annotated[
    dict[str, Any], Body(description="a rule, exactly as in a pack (id, label, category, terms, …)")
]
Reason = Annotated[str, Query(max_length=2000, description="why (kept in the audit log)")]


class PublishCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(min_length=1, max_length=2000, description="why this version (audit log)")


class RollbackCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(default="", max_length=2000)


class TryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Text
    kind: Kind = Kind.TRANSCRIPT
    category: ProductCategory = ProductCategory.OTHER
    ruleset: str = Field(default="draft", pattern="^(draft|published)$")


class DryRunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    layers: Layers = None
    sentences: list[Text] = Field(
        default_factory=list, max_length=500, description="extra sentences to score"
    )


def _json(rule: Any) -> dict[str, Any]:
    return rule.model_dump(mode="json")


@router.get("", summary="The draft's rules, searchable by term, label and category")
def list_rules(
    session: StoreDep,
    user: ReviewerDep,
    q: Annotated[str | None, Query(max_length=200, description="a term, id or phrase")] = None,
    label: Label | None = None,
    category: RuleCategory | None = None,
) -> dict[str, Any]:
    found = workflow.search_rules(store.draft_rules(session), term=q, label=label, category=category)
    return {
        "rules": [_json(r) for r in found],
        "published_version": store.latest_version(session),
        "unpublished_changes": store.draft_differs(session),
    }


@router.get("/whoami", summary="The signed-in user and role")
def whoami(user: ReviewerDep) -> dict[str, Any]:
    return {"name": user.name, "role": user.role.value, "may_publish": user.role.allows(store.Role.PUBLISHER)}


@router.post("", status_code=201, summary="Add a rule to the draft")
def create_rule(body: RuleBody, session: StoreDep, user: ReviewerDep, reason: Reason = "") -> dict[str, Any]:
    rule = workflow.rule_from_data(body)
    _refuse_problems([*store.draft_rules(session), rule], rule.id)
    return _json(store.create_rule(session, rule=rule, actor=user.name, reason=reason))


@router.post("/validate", summary="Every problem of the draft, each naming its rule")
def validate_draft(session: StoreDep, user: ReviewerDep) -> dict[str, Any]:
    return {"problems": workflow.validate(store.draft_rules(session))}


@router.post("/try", summary="Score one sentence with the draft (or the published) rules")
def try_sentence(
    body: TryCreate,
    session: StoreDep,
    user: ReviewerDep,
    moderator: ModeratorDep,
    drafts: DraftCacheDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    check_text(body.text, limit=settings.max_text_chars)
    scorer = moderator
    if body.ruleset == "draft":
        scorer = moderator.with_ruleset(drafts.compiled(store.draft_rules(session)))
    return scorer.check(body.text, kind=body.kind, category=body.category).to_dict()


@router.post("/dry-run", summary="New hits, lost hits and changed actions of the draft on real sentences")
def dry_run(
    session: StoreDep,
    user: ReviewerDep,
    moderator: ModeratorDep,
    drafts: DraftCacheDep,
    settings: SettingsDep,
    body: DryRunCreate | None = None,
) -> dict[str, Any]:
    body = body or DryRunCreate()
    draft = drafts.compiled(store.draft_rules(session))
    sentences = [workflow.Sentence(t, source="request") for t in body.sentences]
    sentences += workflow.sample_corpus() + workflow.audit_sentences(settings.data_dir)
    report = workflow.dry_run(
        moderator=moderator,
        published=moderator.live.current,
        draft=draft,
        sentences=sentences,
        layers=layer_set(body.layers),
    )
    return report.to_dict()


@router.post("/publish", summary="Make the draft the next published version")
def publish(
    body: PublishCreate, session: StoreDep, user: PublisherDep, watcher: WatcherDep
) -> dict[str, Any]:
    version = workflow.publish(session, actor=user.name, message=body.message)
    # This process goes live at once; other processes within one poll interval.
    watcher.refresh()
    return {
        "version": version,
        "ruleset_version": workflow.version_label(version),
        "live_here": watcher.version == version,
    }


@router.get("/versions", summary="Published versions, newest first")
def versions(
    session: StoreDep,
    user: ReviewerDep,
    watcher: WatcherDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    return {
        "versions": [v.to_dict() for v in store.list_versions(session, limit=limit)],
        "live_version": watcher.version,
    }


@router.get("/versions/{version}", summary="One published version with its rules")
def version(version: int, session: StoreDep, user: ReviewerDep) -> dict[str, Any]:
    info = store.version_info(session, version=version)
    return info.to_dict() | {"rules": [_json(r) for r in store.version_rules(session, version=version)]}


@router.get("/audit", summary="Who changed what, when and why, newest first")
def audit(
    session: StoreDep,
    user: ReviewerDep,
    rule_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    return {"entries": store.audit_log(session, rule_id=rule_id, limit=limit)}


@router.post("/rollback/{version}", summary="Publish an older version again, as a new version")
def rollback(
    version: int,
    session: StoreDep,
    user: PublisherDep,
    watcher: WatcherDep,
    body: RollbackCreate | None = None,
) -> dict[str, Any]:
    new = workflow.rollback(
        session, to_version=version, actor=user.name, message=(body.message if body else "")
    )
    watcher.refresh()
    return {
        "version": new,
        "ruleset_version": workflow.version_label(new),
        "rolled_back_to": version,
        "live_here": watcher.version == new,
    }


# Routes with a rule id come last, so that `/versions` and `/audit` are not taken for ids.


@router.get("/{rule_id}", summary="One rule of the draft")
def get_rule(rule_id: str, session: StoreDep, user: ReviewerDep) -> dict[str, Any]:
    return _json(store.get_draft_rule(session, rule_id=rule_id))


@router.put("/{rule_id}", summary="Change a rule of the draft")
def update_rule(
    rule_id: str, body: RuleBody, session: StoreDep, user: ReviewerDep, reason: Reason = ""
) -> dict[str, Any]:
    rule = workflow.rule_from_data(body, rule_id=rule_id)
    store.get_draft_rule(session, rule_id=rule_id)  # 404 before any validation of the rest
    others = [r for r in store.draft_rules(session) if r.id != rule_id]
    _refuse_problems([*others, rule], rule_id)
    return _json(store.update_rule(session, rule=rule, actor=user.name, reason=reason))


@router.delete("/{rule_id}", status_code=204, summary="Remove a rule from the draft")
def delete_rule(rule_id: str, session: StoreDep, user: ReviewerDep, reason: Reason = "") -> Response:
    store.delete_rule(session, rule_id=rule_id, actor=user.name, reason=reason)
    return Response(status_code=204)


def _refuse_problems(rules: list[Any], rule_id: str) -> None:
    problems = workflow.problems_of_rule(rules, rule_id)
    if problems:
        raise RulesetError(problems)
