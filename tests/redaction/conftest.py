"""One redaction of real faces per session (it decodes and detects twice), shared by the tests
that examine it; tests that change files work on copies."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from evidence.receipt import store_id_for
from store.redaction.plan import Plan, build_plan
from store.redaction.run import redact
from tests.evidence_store.conftest import (  # noqa: F401  (the store's fixtures, reused)
    camera,
    enrolled,
    recorded,
    running,
    store_backend,
    store_dir,
)
from tests.redaction.scene import Scene, build_scene

#: The audio the reviewer silences, in seconds of the copy.
SILENCE = (1.0, 2.2)
NOW = "2026-01-01T02:00:00.000Z"


@dataclass
class Redacted:
    scene: Scene
    out: Path
    key: Ed25519PrivateKey
    plan: Plan
    derivation: dict[str, Any]

    def copy(self, dest: Path) -> Path:
        shutil.copytree(self.out, dest)
        return dest


def keep_box(scene: Scene) -> list[int]:
    """A box around where the requester stands (the face's box widened)."""
    x, y, w, h = scene.requester[0]
    return [x - 12, y - 12, w + 24, h + 24]


@pytest.fixture(scope="session")
def redacted(tmp_path_factory: pytest.TempPathFactory) -> Redacted:
    root = tmp_path_factory.mktemp("redaction")
    scene = build_scene(root / "export", seconds=3.0)
    key = Ed25519PrivateKey.generate()
    plan = build_plan({"reviewer": "DC 4711 A. Reviewer",
                       "boxes": [{"op": "keep", "frames": [0, scene.frame_count - 1],
                                  "box": keep_box(scene), "note": "the requester"}],
                       "silence": [{"from_s": SILENCE[0], "to_s": SILENCE[1],
                                    "note": "a bystander's name"}]})
    derivation = redact(scene.root, plan, root / "out", key, store_id_for(key.public_key()),
                        NOW)
    return Redacted(scene, root / "out", key, plan, derivation)
