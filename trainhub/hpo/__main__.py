"""`python -m trainhub.hpo [optuna-dashboard options]`: optuna-dashboard on TrainHub's
studies (the optuna schema of TrainHub's database), e.g. `--port 8080`. With
`--print-url` it only prints the storage URL, for any other Optuna tool."""
from __future__ import annotations

import os
import shutil
import sys

from trainhub.hpo.service import get_storage, storage_url


def main(argv: list[str]) -> None:
    url = storage_url()
    # Optuna creates its tables on first use; before any job ran HPO there are none, and
    # the dashboard would fail on the empty schema.
    get_storage()
    if "--print-url" in argv:
        print(url)
        return
    # The dashboard script sits next to this interpreter in the project's virtualenv.
    dashboard = shutil.which("optuna-dashboard", path=os.path.dirname(sys.executable)) or "optuna-dashboard"
    sys.stdout.flush()
    os.execvp(dashboard, [dashboard, url, *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
