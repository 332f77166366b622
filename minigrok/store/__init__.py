"""The run store: the one place that knows where a run's files are, writes them, locks
them, and decides whether a run on disk is reused, continued or refused. keys.py says
what makes two runs the same, folder.py handles one folder (paths, lock, decide, setup,
checkpoints), views.py what is rebuilt from its commits (final, metrics.csv, summary.json).

A run folder:

    config.json                 the settings of the last request (a view)
    split.npz                   the data exactly as used
    init.npz                    theta_0 (x mask), the mask, the run key and its identity
    checkpoints/epoch_<n>.npz   params, mask, AdamW state, the metrics rows before epoch n
                                and the run key: a commit point
    final.npz                   the same at the run's last row (that row included)
    metrics.csv, summary.json   views of the newest commit, rebuilt from it
    .lock                       held (fcntl.flock) by the one process writing the folder

The run key is the SHA-256 of the run's identity: everything that determines its numbers
(the model and its sizes, the content of the data split, of theta_0 and of the mask,
the optimiser settings, the logging and stopping settings, dtype and backend; see
runs.identity). The epoch cap is not part of it: the loop is deterministic, so a run
trained to n epochs continues exactly as a fresh run with a larger cap would. A folder is
reused only when its key equals the key asked for; anything else is refused in one line.

Crash consistency by construction: a new folder is set up in a hidden temporary folder
and renamed into place complete, so a folder with init.npz is always whole. Every file is
written atomically (io.atomic_write). A checkpoint is self-contained and is the only
thing resume reads; metrics.csv and summary.json are rebuilt from the newest commit,
so a kill between two writes loses at most the work since the last checkpoint.
"""
from .folder import (available_epochs, check_output_folder, checkpoint_epochs, checkpoint_path,
                     decide, is_run, load_commit, lock, open_for_writing, read_divergence,
                     read_identity, setup, start_state, unlock, write_checkpoint, write_config)
from .keys import FORMAT, differences, digest, run_key
from .views import (clear_report, divergence_message, load_result, save_report, summarize, versions,
                    write_divergence, write_final, write_views)

__all__ = ['FORMAT', 'available_epochs', 'check_output_folder', 'checkpoint_epochs', 'checkpoint_path', 'clear_report', 'decide', 'differences', 'digest', 'divergence_message', 'is_run', 'load_commit', 'load_result', 'lock', 'open_for_writing', 'read_divergence', 'read_identity', 'run_key', 'save_report', 'setup', 'start_state', 'summarize', 'unlock', 'versions', 'write_checkpoint', 'write_config', 'write_divergence', 'write_final', 'write_views']
