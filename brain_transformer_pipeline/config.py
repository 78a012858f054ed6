"""Settings of the transformer pipeline (environment prefix ``BRAIN_PIPELINE_``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, ValidationError

from brain_core.codec import validation_message
from brain_core.errors import InvalidInputError
from brain_core.settings import BrainSettings, settings_config

if TYPE_CHECKING:
    from brain_transform_service.transform import TransformConfig


class Settings(BrainSettings):
    """Pipeline settings; each can be set as ``BRAIN_PIPELINE_<FIELD>``."""

    model_config = settings_config("BRAIN_PIPELINE_")

    raw_repo: Path = Field(Path("var/data/raw"),
                           description="the raw repository, read in place when local")
    raw_git_url: str | None = Field(
        None, description="clone the raw repository from this git URL instead (into "
        "raw_clone_dir) and `dvc pull` it")
    raw_clone_dir: Path = Field(Path("var/pipeline/raw"),
                                description="where the clone of raw_git_url lives")
    feature_repo: Path = Field(Path("var/data/features"),
                               description="the feature store (written through brain_data)")
    transform_url: str = Field("http://127.0.0.1:8001",
                               description="the transform service's base URL")
    transform_config: str | None = Field(
        None, description="TransformConfig as JSON (fields not given keep their defaults)")
    batch_size: int = Field(8, ge=1, le=256,
                            description="recordings per transform request")
    commit_every: int = Field(64, ge=1,
                              description="recordings per feature-store commit")
    timeout_s: float = Field(300.0, gt=0, description="transform request timeout, seconds")
    lock_timeout_s: float | None = Field(
        None, gt=0, description="give up waiting for the feature store's locks after this "
        "many seconds (unset: wait)")

    def make_transform_config(self) -> TransformConfig:
        """The :class:`~brain_transform_service.transform.TransformConfig` to use."""
        from brain_transform_service.transform import TransformConfig

        if not self.transform_config:
            return TransformConfig()
        try:
            return TransformConfig.model_validate(json.loads(self.transform_config))
        except json.JSONDecodeError as err:
            raise InvalidInputError(
                f"BRAIN_PIPELINE_TRANSFORM_CONFIG is not valid JSON ({err.msg}).",
                field="transform_config") from None
        except ValidationError as err:
            raise InvalidInputError(
                f"BRAIN_PIPELINE_TRANSFORM_CONFIG: {validation_message(err)}",
                field="transform_config") from None
