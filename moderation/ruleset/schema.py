"""The rule and pack schema shared by YAML packs, the store, the API and the reviewers' page."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from moderation.types import Kind, Label, ProductCategory, RuleCategory, Severity

RULE_ID_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"


class Example(BaseModel):
    """A sentence the rule must (positive) or must not (negative) flag; collected as tests."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1)
    kind: Kind = Kind.TRANSCRIPT
    category: ProductCategory = ProductCategory.OTHER


class Examples(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    positive: list[Example] = Field(default_factory=list)
    negative: list[Example] = Field(default_factory=list)

    @field_validator("positive", "negative", mode="before")
    @classmethod
    def _accept_plain_strings(cls, value: object) -> object:
        # Packs may write an example as a bare string when kind and category do not matter.
        if isinstance(value, list):
            return [{"text": v} if isinstance(v, str) else v for v in value]
        return value


class Composition(BaseModel):
    """A claim made of two parts, each alone ordinary: a condition and an outcome (老寒腿 … 再没犯过),
    a certainty and an effect (保证 … 见效). Matches `first`, at most `within` characters of the same
    clause, then `then`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    first: list[str] = Field(min_length=1)
    then: list[str] = Field(min_length=1)
    within: int = Field(default=4, ge=0, le=12)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=RULE_ID_PATTERN)
    label: Label
    category: RuleCategory
    severity: Severity = Severity.MEDIUM
    applies_to: list[ProductCategory] | Literal["all"] = "all"
    # Product categories where the rule stays silent (治疗 for a registered medical_device).
    not_for: list[ProductCategory] = Field(default_factory=list)
    kinds: list[Kind] = Field(default_factory=lambda: [Kind.TRANSCRIPT, Kind.COPY])
    terms: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)
    # Claims composed of two lexicons (compile.composition_pattern); like terms, bare words to the model.
    compose: list[Composition] = Field(default_factory=list)
    # Phrases that contain a term but are fine (第一次, 最近, 北斗卫星).
    exceptions: list[str] = Field(default_factory=list)
    # The whole text is fine when it also says one of these (美白 with 国妆特字 cited).
    exempt_if_text_contains: list[str] = Field(default_factory=list)
    # RE2 patterns over the normalized text; a match overlapping a hit kills it (型号 VX-300).
    exception_patterns: list[str] = Field(default_factory=list)
    # Short terms (two characters or fewer) must sit on jieba word boundaries (第一 ≠ 第一次)
    # unless the rule says its terms are risky anywhere (微信 inside 加微信好友).
    match_anywhere: bool = False
    # Terms also match their one-character ASR homophones (根治 → 跟治, 降血糖 → 将血糖), and are
    # looked up by sound where the model holds a claim is made (驱豆 for 祛痘; ruleset/sounds.py).
    homophones: bool = True
    # When true, the model may veto this rule's hits on its bare words (微信, 第一, 治疗) where it reads
    # the clause as benign (a mention, a question, news); never a pattern's match (a handle, a number).
    model_can_override: bool = False
    # Terms of such a rule that are an explicit offer or claim on their own (加我微信): never vetoed.
    firm_terms: list[str] = Field(default_factory=list)
    basis: str = Field(min_length=2)
    reminder: str = Field(min_length=2)
    suggestion: str = ""
    examples: Examples = Field(default_factory=Examples)
    enabled: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if self.category.label is not self.label:
            raise ValueError(
                f"rule {self.id}: category {self.category.value} belongs to label "
                f"{self.category.label.value}, not {self.label.value}"
            )
        if not self.terms and not self.patterns and not self.compose:
            raise ValueError(f"rule {self.id}: needs at least one term, pattern or composition")
        if any(not t.strip() for t in self.terms + self.exceptions):
            raise ValueError(f"rule {self.id}: empty term or exception")
        if stray := [t for t in self.firm_terms if t not in self.terms]:
            raise ValueError(f"rule {self.id}: firm_terms {stray} are not among its terms")
        return self

    def applies(self, *, kind: Kind, category: ProductCategory) -> bool:
        if kind not in self.kinds or category in self.not_for:
            return False
        return self.applies_to == "all" or category in self.applies_to


class RulePack(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    description: str = ""
    rules: list[Rule]
