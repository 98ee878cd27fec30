"""Test-wide settings: an isolated, offline Prefect home; artifacts folder for images a person can look at."""

import os
import tempfile
from pathlib import Path

_PREFECT_HOME = tempfile.mkdtemp(prefix="savgbench-prefect-")
os.environ.setdefault("PREFECT_HOME", _PREFECT_HOME)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# The ephemeral API server takes 12–18 s to start here, longer on a loaded 2-core machine; the default is 20 s.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="savgbench-yolo-"))
os.environ.setdefault("YOLO_OFFLINE", "1")

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SHARED_ANNOTATIONS = Path(__file__).resolve().parents[2] / "shared" / "data" / "starss22-metadata-sample"
