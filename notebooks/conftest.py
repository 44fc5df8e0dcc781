"""nbval runs the templates' cells with ``store_history=False``, so the kernel's ``In`` stays empty and
``check_notebook_parameters()`` (which reads the parameters cell from ``In``) finds no parameters cell.
Papermill and Jupyter store the history; here nbval's kernel is made to store it too, so a template runs
under ``pytest --nbval-lax`` as it runs in the book. (Outputs are compared as before: execution counts
are not compared by nbval.) Drop this once ``cca_core.experiments.parameters`` finds the cell without
the history.
"""

from __future__ import annotations

try:
    from nbval.kernel import RunningKernel
except ImportError:  # nbval not installed: nothing to patch
    RunningKernel = None

if RunningKernel is not None:
    def _execute_cell_input(self, cell_input, allow_stdin=None):
        return self.kc.execute(cell_input, store_history=True, allow_stdin=allow_stdin, stop_on_error=False)

    RunningKernel.execute_cell_input = _execute_cell_input
