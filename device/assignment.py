"""Who wears the camera: the store's assignment, as the camera keeps it between docks.

At the dock the uploader fetches the store's signed assignment for this camera and this dock
(:mod:`evidence.assignment`); the daemon's thread applies it (``device/docking.py``): kept in
``DATA_DIR/state/assignment.json`` (fsync + rename), audited when it changes, and named in the
``officer`` field of every manifest recorded after it. A camera never assigned, or whose file
cannot be read, records anyway (evidence first) and says ``"unassigned"``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evidence.assignment import UNASSIGNED, Assignment, AssignmentError, check_fields
from evidence.bounded import read_json
from evidence.fsutil import atomic_write, private_dir
from evidence.layout import Layout

__all__ = ["UNASSIGNED", "Assignment", "describe", "load", "officer_field", "save"]


def save(data_dir: Path, assignment: Assignment) -> None:
    path = data_dir / Layout.ASSIGNMENT
    private_dir(path.parent)
    atomic_write(path, (json.dumps({"store_id": assignment.store_id,
                                    "officer_id": assignment.officer_id,
                                    "collar": assignment.collar,
                                    "assigned_utc": assignment.assigned_utc},
                                   indent=2, sort_keys=True) + "\n").encode())


def load(data_dir: Path) -> tuple[Assignment | None, str | None]:
    """The kept assignment (None: never assigned) and a one-line problem when the file could
    not be used (the camera is then unassigned rather than stopped)."""
    path = data_dir / Layout.ASSIGNMENT
    try:
        data = read_json(path)
        check_fields(data, str(path))
        if not isinstance(data.get("store_id"), str) or (
                data.get("officer_id") is not None and not isinstance(data.get("assigned_utc"),
                                                                       str)):
            raise AssignmentError("not an assignment")
        return Assignment(store_id=data["store_id"], officer_id=data.get("officer_id"),
                          collar=data.get("collar"), assigned_utc=data.get("assigned_utc")), None
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        return None, f"{path}: assignment not used, the camera is unassigned ({exc})"


def officer_field(assignment: Assignment | None) -> dict[str, Any] | str:
    """The manifests' ``officer`` under this assignment."""
    return UNASSIGNED if assignment is None else assignment.manifest_field()


def describe(assignment: Assignment | None) -> str:
    """One line for the status and the panel."""
    if assignment is None or assignment.officer_id is None:
        return UNASSIGNED
    return f"{assignment.officer_id} (collar {assignment.collar})"
