"""What the API importers share: models of the providers' answers (exact decimals, unknown fields ignored)."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from otel_margin_backend.bills.lines import BillImportError


class WireModel(BaseModel):
    """A part of a provider's answer: only the fields the bill needs; fields added by the provider are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], raw: object, what: str) -> M:
    """``raw`` (JSON decoded with ``parse_float=Decimal``) validated as ``model``.

    Raises:
        BillImportError: it is not in the documented shape (the message names the first bad field).
    """
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the answer"
        raise BillImportError(f"{what}: the answer is not in the documented shape: {where}: {first['msg']}") from None
