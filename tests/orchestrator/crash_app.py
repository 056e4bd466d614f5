"""Child process of the crash test: the graph with its orchestrator, served on loopback.

`python crash_app.py PORT DATA_DIR ERP_URL WMS_URL SERVICEDESK_URL` — killed with SIGKILL by
the test, then started again on the same data dir to recover what was in flight.
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for workflow_support

from workflow_support import fast_settings, graph_with_orchestrator


def main() -> None:
    port, data_dir, erp, wms, desk = sys.argv[1:6]
    settings = fast_settings(Path(data_dir), erp_url=erp, wms_url=wms, servicedesk_url=desk,
                             mutation_wait_s=0.05, workflow_step_attempts=50, source_timeout_s=30.0)
    app = graph_with_orchestrator(settings, {})
    uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning")


if __name__ == "__main__":
    main()
