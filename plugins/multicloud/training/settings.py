"""model_training's settings: its trigger form, declared once (see ``multicloud.settings``)."""

from __future__ import annotations

from dataclasses import dataclass

from multicloud.settings import DagSettings, form

# No '/' and no '..': a version is a folder name under the model store (model_rollout's too).
VERSION_PATTERN = r"^$|^(?!.*[.][.])[A-Za-z0-9][A-Za-z0-9._-]*$"


@dataclass(frozen=True)
class TrainingSettings(DagSettings):
    models: list[str] = form([], "Model ids to train; empty: those whose data just synced, else all",
                             type=["null", "array"], items={"type": "string"})
    version: str = form("", "Version label (letters, digits, '.', '_', '-'; no '/' or '..'); empty: "
                            "v<YYYYMMDDHHMMSS>-<run hash>, unique per run",
                        type=["null", "string"], pattern=VERSION_PATTERN, maxLength=64)
    estate_file: str = form("", "Estate file; empty: the configured estate", type=["null", "string"])
