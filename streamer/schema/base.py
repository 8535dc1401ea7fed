"""The base every config model derives from, and the small types they share.

One base model forbids unknown keys (a typo is an error, not a silent default) and
freezes instances (configs are shared between threads).
"""

from __future__ import annotations

from typing import Union

from pydantic import BaseModel, ConfigDict

Point = tuple[float, float]
Loc = tuple[Union[str, int], ...]
# The crossing-edges check is quadratic: 256 corners take a fraction of a second, 30000
# took minutes. A drawn zone has a handful.
MAX_POLYGON_POINTS = 256


class StreamerModel(BaseModel):
    """Base of every config section: unknown keys are errors; instances are immutable.

    YAML spells infinity and NaN `.inf`/`.nan`: no setting means either (a NaN passes every
    `gt=0` check by comparing false), so every float must be finite.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


