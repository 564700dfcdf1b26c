"""Window entry point: ``serapp`` with no sub-command. Sets up Qt (high-DPI, palette), opens the main window."""

from __future__ import annotations

import argparse
import signal
import sys

from serapp.errors import SerappError


def check_qt_binding() -> None:
    """Refuse a Qt binding whose ``Signal.emit`` drops a reference to ``True`` (PySide6 6.12.0 on Python < 3.12).

    Such a binding aborts the process (``bool_dealloc``, status 134) after a few thousand signals, i.e. within
    minutes of live use; better a plain message at start than a crash during a demo.
    """
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(8):
        probe.ping.emit()
    if sys.getrefcount(True) < before:
        raise SerappError(f"PySide6 {pyside_version} has a reference-counting bug in Signal.emit that crashes "
                          "the app after a few minutes. Install the pinned version: "
                          "`pip install PySide6-Essentials==6.11.3`.")


def run_app(args: argparse.Namespace) -> int:
    """Open the window with ``args.model``, ``args.input``, ``args.device`` and ``args.demo``; returns the exit code."""
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    check_qt_binding()
    # Fractional scale factors (150 %, 175 %) as they are, not rounded: sharp text on high-DPI screens.
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("serapp")
    app.setOrganizationName("serapp")
    app.setApplicationDisplayName("serapp")

    from serapp.ui.mainwindow import LaunchOptions, MainWindow
    from serapp.ui.settings import default_store

    options = LaunchOptions(model=args.model, input=args.input, device=args.device, demo=bool(args.demo),
                            defer_start=True)
    window = MainWindow(options, default_store())
    if not options.demo:
        window.show()
    # Ctrl+C in the terminal closes the window cleanly: Python runs signal handlers only between bytecodes, so
    # a slow timer gives it the chance while Qt's loop is waiting.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    wake = QTimer()
    wake.start(250)
    wake.timeout.connect(lambda: None)
    code = app.exec()
    wake.stop()
    # Closing cancelled any file analysis and hid the window at once; its thread stops at the engine's next
    # block. Wait for it here, unseen: onnxruntime threads still running at interpreter exit abort the process.
    window.file_view.wait_idle(60.0)
    # Tear the window down while Qt is still alive: pyqtgraph items deleted after QApplication would touch a
    # dead scene at interpreter exit.
    window.deleteLater()
    app.processEvents()
    return int(code)
