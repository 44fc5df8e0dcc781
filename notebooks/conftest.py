"""nbval runs every cell with ``store_history=False``, so the kernel's ``In`` stays empty and
:func:`cca_core.experiments.parameters.check_notebook_parameters` (which reads the parameters cell
from ``In``) finds no parameters cell. Under ``pytest --nbval-lax notebooks`` the templates' cells
run with history, as Jupyter and papermill run them."""

from __future__ import annotations

try:
    from nbval.kernel import RunningKernel
except ImportError:  # pragma: no cover - nbval comes with the 'book' extra
    RunningKernel = None

if RunningKernel is not None:
    def _execute_with_history(self, cell_input, allow_stdin=None):
        return self.kc.execute(cell_input, store_history=True, allow_stdin=allow_stdin, stop_on_error=False)

    RunningKernel.execute_cell_input = _execute_with_history
