"""Every config group composes, and mistakes fail at compose time naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigKeyError, ValidationError

from bigseg.config import (
    GROUP_SCHEMAS,
    BigsegConfig,
    ModelConfig,
    compose,
    to_flat_dict,
)

CONF = Path(__file__).resolve().parents[1] / "bigseg" / "conf"
JOB_FILES = Path(__file__).resolve().parents[1] / "jobs"
# Root configs of jobs (common.yaml is what they share, not a job).
JOBS = sorted(p.stem for p in CONF.glob("*.yaml") if p.stem != "common")
OPTIONS = sorted(
    (group, p.stem) for group in GROUP_SCHEMAS for p in (CONF / group).glob("*.yaml")
)


def test_repo_conf_is_the_package_conf():
    assert (CONF.parents[1] / "conf").resolve() == CONF


def test_every_job_file_has_its_root_config_and_back():
    assert sorted(p.stem for p in JOB_FILES.glob("*.py")) == JOBS


@pytest.mark.parametrize("job", JOBS)
def test_every_job_config_composes_to_typed_dataclasses(job):
    cfg = compose(job)
    assert isinstance(cfg, BigsegConfig)
    assert cfg.job == job
    assert isinstance(cfg.model, ModelConfig)
    assert cfg.spark.master is None  # spark-submit --master must win


@pytest.mark.parametrize(("group", "option"), OPTIONS)
def test_every_group_option_composes(group, option):
    cfg = compose("pipeline", [f"{group}={option}"])
    assert isinstance(getattr(cfg, group), GROUP_SCHEMAS[group])


def test_every_group_has_a_yaml_option():
    assert {g for g, _ in OPTIONS} == set(GROUP_SCHEMAS)


def test_paths_are_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = compose("pipeline", ["paths.root=rel/out"])
    assert cfg.paths.root == str(tmp_path / "rel" / "out")
    assert cfg.paths.features == str(tmp_path / "rel" / "out" / "features")
    monkeypatch.setenv("BIGSEG_HOME", str(tmp_path / "home"))
    assert compose("pipeline").paths.models == str(tmp_path / "home" / "models")


def test_overrides_reach_the_typed_config():
    cfg = compose("pipeline", ["model.k=12", "spark.master='local[2]'", "+spark.conf.a=b"])
    assert cfg.model.k == 12
    assert cfg.spark.master == "local[2]"
    assert cfg.spark.conf == {"a": "b"}
    assert to_flat_dict(cfg)["model.k"] == 12


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("model.kk=5", "model.kk"),
        ("spark.mastr=local", "spark.mastr"),
        ("tracking.experimnt=x", "tracking.experimnt"),
        ("model.k=five", "model.k"),
        ("model.tol=[1,2]", "model.tol"),
        ("features.windows_days=[a]", "features.windows_days"),
        ("spark.show_progress=maybe", "spark.show_progress"),
    ],
)
def test_bad_override_fails_at_compose_time_naming_the_key(override, key):
    with pytest.raises(ConfigCompositionException) as info:
        compose("pipeline", [override])
    chain = _exception_chain(info.value)
    assert key in chain


def _write_option(tmp_path: Path, group: str, text: str) -> str:
    (tmp_path / group).mkdir(parents=True, exist_ok=True)
    (tmp_path / group / "custom.yaml").write_text(text)
    return f"hydra.searchpath=[file://{tmp_path}]"


@pytest.mark.parametrize(
    ("group", "body", "key", "error"),
    [
        ("model", "kk: 3\n", "kk", ConfigKeyError),
        ("spark", "app_nme: x\n", "app_nme", ConfigKeyError),
        ("model", "max_iter: lots\n", "max_iter", ValidationError),
        ("tracking", "enabled: sometimes\n", "enabled", ValidationError),
    ],
)
def test_bad_yaml_option_fails_at_compose_time_naming_the_key(tmp_path, group, body, key, error):
    searchpath = _write_option(tmp_path, group, f"defaults:\n  - base_{group}\n{body}")
    with pytest.raises((ConfigCompositionException, error)) as info:
        compose("pipeline", [searchpath, f"{group}=custom"])
    assert key in _exception_chain(info.value)


def _exception_chain(exc: BaseException) -> str:
    parts = []
    while exc is not None:
        parts.append(str(exc))
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)
