"""The trainer: corpora, splits, cached features, Keras models, honest evaluation, ONNX export.

Training-time only: nothing under ``serapp/`` may import this package.

Libraries (one concept each): :mod:`.config` (TrainConfig), :mod:`.configargs` (its flags), :mod:`.corpora`,
:mod:`.splits`, :mod:`.cache`, :mod:`.data` (a run's clips, features, labels and split), :mod:`.augment`,
:mod:`.batches`, :mod:`.models` and :mod:`.nets`, :mod:`.fitting`, :mod:`.scoring` (predictions, metrics,
calibration; exported models on clips), :mod:`.metrics`, :mod:`.training` (one run end to end),
:mod:`.runfolder` (the run-folder format, read and written there only), :mod:`.jsonfile`, :mod:`.export`,
:mod:`.distill` and :mod:`.provenance` (teachers), :mod:`.tables` (Markdown tables), :mod:`.productpath` and
:mod:`.whisper`. Commands (:data:`serapp_train.cli.COMMANDS`) are thin modules over them and never import each other.
"""
