"""The dock fits a 1000-px-tall screen beside napari's layer controls (issue 18, item 7).

Measured in a real viewer under Xvfb (``-screen 0 1600x1000x24``): the main window is given the
screen's height less a title bar and a task bar (none under Xvfb, 60 px on a desktop), every
foldable box is opened and the tables are filled as on Indian Pines (16 classes), and then no
part of the dock may need to scroll, on any tab.
"""

import numpy as np
from qtpy.QtWidgets import QApplication, QGroupBox, QLabel, QScrollArea, QTabWidget

SCREEN_H = 1000
WINDOW_CHROME = 60  # a desktop's title bar and task bar, absent under Xvfb
CLASSES = 16  # Indian Pines


def _worst_case(viewer, w) -> None:
    """Every foldable box open, 16 classes painted and in the accuracy table."""
    layer = w.new_labels_layer()
    data = np.zeros(layer.data.shape, np.int32)
    data.flat[:CLASSES] = np.arange(1, CLASSES + 1)
    layer.data = data
    layer.metadata["class_names"] = {v: f"class name {v}" for v in range(1, CLASSES + 1)}
    w.classes.refresh()
    rng = np.random.default_rng(0)
    confusion = rng.integers(0, 50, (CLASSES, CLASSES)).tolist()
    values = list(range(1, CLASSES + 1))
    w.accuracy.show_metrics({"oa": 0.8, "aa": 0.7, "kappa": 0.75, "n_test": 1000,
                             "class_values": values, "confusion": confusion,
                             "per_class": {v: 0.5 for v in values}},
                            {v: f"class name {v}" for v in values},
                            scored_on="Scored on ground-truth layer 'gt': 1000 px, training "
                                      "pixels excluded. The kept model was chosen on 12 "
                                      "held-out painted pixels.")
    w.status.setText("Iteration 120/400   loss 0.123   ETA 0:42   validation OA 81.2% "
                     "(held-out painted px)   test OA 79.9%")
    for box in w.findChildren(QGroupBox):
        if box.isCheckable():
            box.setChecked(True)


def _scrolls(w) -> list[str]:
    """The scroll areas of the dock (not its tables) that have something to scroll."""
    return [type(s.widget()).__name__ for s in w.findChildren(QScrollArea)
            if s.widget() is not None and s.isVisible()
            and s.verticalScrollBar().maximum() > 0]


def test_dock_fits_a_1000_px_screen_without_scrolling(opened, qtbot):
    viewer, w = opened
    window = viewer.window._qt_window
    screen = QApplication.primaryScreen().availableGeometry()
    height = min(SCREEN_H, screen.height()) - WINDOW_CHROME
    window.resize(min(1600, screen.width()), height)
    window.show()
    _worst_case(viewer, w)
    dock = w.parentWidget()
    tabs = w.findChildren(QTabWidget)
    pages = [tabs[0].widget(i) for i in range(tabs[0].count())] if tabs else [None]
    for page in pages:
        if page is not None:
            tabs[0].setCurrentWidget(page)
        qtbot.wait(50)
        QApplication.processEvents()
        assert dock.height() <= height
        # Qt never shrinks a dock below its minimum: a taller minimum is clipped off-screen
        assert w.minimumSizeHint().height() <= dock.height(), page
        assert w.sizeHint().height() <= dock.height(), page
        assert not _scrolls(w), (page, w.sizeHint().height(), dock.height())


def test_dock_is_in_tabs_with_status_and_buttons_above_them(opened, qtbot):
    viewer, w = opened
    tabs = w.tabs
    names = [tabs.tabText(i) for i in range(tabs.count())]
    assert names[:5] == ["Label", "Train", "Results", "Assess", "Model"]
    assert tabs.currentIndex() == 0  # the first step: what to work on, paint
    # Train, Stop, the status and the message line show whatever tab is open
    for widget in (w.train_button, w.refine_button, w.stop_button, w.status):
        assert not tabs.isAncestorOf(widget)
    page = {name: tabs.widget(i) for i, name in enumerate(names)}
    assert page["Label"].isAncestorOf(w.data) and page["Label"].isAncestorOf(w.classes)
    assert page["Label"].isAncestorOf(w.live)
    assert page["Train"].isAncestorOf(w.settings) and page["Train"].isAncestorOf(w.plot)
    assert page["Results"].isAncestorOf(w.views) and page["Results"].isAncestorOf(w.accuracy)
    assert page["Model"].isAncestorOf(w.apply_button)
    assert page["Assess"].isAncestorOf(w.assess)


def test_a_section_is_added_in_one_call(opened):
    viewer, w = opened
    extra = QLabel("an assessment")
    box = w.add_section("Assess", extra, tab="Results")
    assert isinstance(box, QGroupBox) and box.title() == "Assess"
    results = w.tabs.widget([w.tabs.tabText(i) for i in range(w.tabs.count())].index("Results"))
    assert results.isAncestorOf(extra)
    n = w.tabs.count()
    own = QLabel("bands")
    w.add_section("Bands", own)  # no tab named: a tab of its own, before Model
    names = [w.tabs.tabText(i) for i in range(w.tabs.count())]
    assert w.tabs.count() == n + 1 and names[-1] == "Model" and "Bands" in names
    assert w.tabs.widget(names.index("Bands")).isAncestorOf(own)


def test_accuracy_table_shows_16_classes_without_scrolling(opened, qtbot):
    viewer, w = opened
    viewer.window._qt_window.resize(1600, SCREEN_H - WINDOW_CHROME)
    viewer.window._qt_window.show()
    _worst_case(viewer, w)
    names = [w.tabs.tabText(i) for i in range(w.tabs.count())]
    w.tabs.setCurrentIndex(names.index("Results"))
    qtbot.wait(50)
    t = w.accuracy.table
    last = t.rowCount() - 1
    assert t.rowCount() == CLASSES
    assert t.rowViewportPosition(last) + t.rowHeight(last) <= t.viewport().height(), (
        t.viewport().height(), t.rowHeight(last))
