"""The review window driven from the keyboard on a real project (leopard photos, bundled model), offscreen.

After each key press the test reads the store through its own connection: a decision counts only once it
is committed, and the candidates on screen must never include a pair the decisions already settle.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import select

from pelage.review.graph import DecisionGraph, active_decisions
from pelage.store import open_project
from pelage.store.schema import Decision, DecisionKind, Detection, Flank, Image, IndividualName
from pelage.ui.app import create_application
from pelage.ui.images import ViewMode
from pelage.ui.main_window import MainWindow
from tests.ui_helpers import activate, copy_project, key_on_window, leopard_template, settle


@pytest.fixture(scope="module")
def template(tmp_path_factory, installed_u2netp):
    return leopard_template(tmp_path_factory, installed_u2netp)


@pytest.fixture
def project_root(template, tmp_path):
    return copy_project(template, tmp_path / "project")


@pytest.fixture
def window(qtbot, tmp_path, project_root):
    create_application()
    window = MainWindow(tmp_path / "settings.json")
    qtbot.addWidget(window)
    window.resize(1400, 860)
    activate(window, qtbot)
    assert window.open_project_folder(project_root)
    qtbot.waitUntil(lambda: window.review.proposal is not None, timeout=30000)
    settle(window, qtbot)
    window.review.setFocus()
    yield window
    window.close()


def store_state(root):
    """(active decisions as {(a, b): kind}, graph) read through a connection of the test's own."""
    with open_project(root) as project, project.sessions() as session:
        active = active_decisions(session)
        return {(d.a_id, d.b_id): d.kind for d in active}, DecisionGraph.from_decisions(active)


def flanks(root) -> dict[int, Flank | None]:
    with open_project(root) as project, project.sessions() as session:
        return dict(session.execute(select(Detection.id, Detection.flank).where(Detection.label == "animal")).all())


def press(window, qtbot, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(window.review, key, modifier)
    settle(window, qtbot)


def shown(window) -> tuple[int, list[int]]:
    proposal = window.review.proposal
    return proposal.anchor.id, [c.id for c in proposal.candidates]


def assert_nothing_settled_is_proposed(window, root) -> None:
    """No candidate on screen is the anchor's own individual, decided with it, or blocked from it, and
    none shows the other flank."""
    _, graph = store_state(root)
    anchor, candidates = shown(window)
    sides = flanks(root)
    assert candidates, "the leopard project always has candidates left here"
    for candidate in candidates:
        assert candidate not in graph.component(anchor)
        assert not graph.decided(anchor, candidate)
        assert not graph.blocked(anchor, candidate)
        assert sides[candidate] in (None, sides[anchor])


def test_confirm_reject_not_comparable_undo_redo_from_the_keyboard(window, project_root, qtbot):
    assert_nothing_settled_is_proposed(window, project_root)
    anchor, candidates = shown(window)
    first = candidates[0]

    press(window, qtbot, Qt.Key.Key_1)  # candidate 1 is a match
    decisions, graph = store_state(project_root)
    assert decisions == {(anchor, first): DecisionKind.MATCH}
    assert graph.component(anchor) == {anchor, first}
    assert_nothing_settled_is_proposed(window, project_root)

    anchor, candidates = shown(window)  # a match finishes an anchor: this is the next one
    press(window, qtbot, Qt.Key.Key_Right)
    assert window.review.selected == 1
    press(window, qtbot, Qt.Key.Key_X)  # the selected (second) candidate is not a match
    rejected = candidates[1]
    decisions, graph = store_state(project_root)
    assert decisions[(anchor, rejected)] == DecisionKind.NONMATCH and len(decisions) == 2
    assert shown(window)[0] == anchor  # one answer does not finish an anchor
    assert rejected not in shown(window)[1]
    assert_nothing_settled_is_proposed(window, project_root)

    poor_view = window.review.slot_candidate(window.review.selected).id
    press(window, qtbot, Qt.Key.Key_C)  # the selected candidate cannot be judged
    decisions, _ = store_state(project_root)
    assert decisions[(anchor, poor_view)] == DecisionKind.NOT_COMPARABLE and len(decisions) == 3
    assert poor_view not in shown(window)[1]

    press(window, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the "not comparable"
    decisions, _ = store_state(project_root)
    assert (anchor, poor_view) not in decisions and len(decisions) == 2
    assert shown(window)[0] == anchor and poor_view in shown(window)[1]
    with open_project(project_root) as project, project.sessions() as session:
        kinds = list(session.scalars(select(Decision.kind).order_by(Decision.id)))
    assert kinds == [DecisionKind.MATCH, DecisionKind.NONMATCH, DecisionKind.NOT_COMPARABLE, DecisionKind.RETRACT]  # nothing deleted

    press(window, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)  # redo
    decisions, _ = store_state(project_root)
    assert decisions[(anchor, poor_view)] == DecisionKind.NOT_COMPARABLE and len(decisions) == 3
    assert poor_view not in shown(window)[1]
    press(window, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    press(window, qtbot, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)  # Ctrl+Y redoes too
    assert store_state(project_root)[0][(anchor, poor_view)] == DecisionKind.NOT_COMPARABLE
    assert "Redid" in window.statusBar().currentMessage()


def test_skip_candidate_next_anchor_and_reject_all_write_only_what_they_say(window, project_root, qtbot):
    anchor, candidates = shown(window)
    press(window, qtbot, Qt.Key.Key_S)  # pass over candidate 1: nothing is written
    assert window.review.selected == 1 and window.review.candidate_cards[0].decision_text == "→ Skipped"
    assert store_state(project_root)[0] == {}

    press(window, qtbot, Qt.Key.Key_N)  # leave the anchor for later
    assert shown(window)[0] != anchor
    assert store_state(project_root)[0] == {}

    anchor, candidates = shown(window)
    press(window, qtbot, Qt.Key.Key_X)  # the first is not a match; then none of the rest is either
    first_answer = store_state(project_root)[0]
    assert first_answer == {(anchor, candidates[0]): DecisionKind.NONMATCH}
    rest = [window.review.slots[i] for i in window.review.open_slots()]  # the cards still open on screen
    press(window, qtbot, Qt.Key.Key_X, Qt.KeyboardModifier.ShiftModifier)
    every_answer = first_answer | {(anchor, c): DecisionKind.NONMATCH for c in rest}
    assert store_state(project_root)[0] == every_answer and len(every_answer) > 2
    if shown(window)[1]:
        assert_nothing_settled_is_proposed(window, project_root)

    # One Ctrl+Z takes back what one key press saved: all of Shift+X's answers, not the X before them.
    press(window, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert store_state(project_root)[0] == first_answer and shown(window)[0] == anchor
    assert all(f"#{anchor}–#{c}" in window.statusBar().currentMessage() for c in rest)
    press(window, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert store_state(project_root)[0] == every_answer  # and one redo puts them all back
    press(window, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    press(window, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert store_state(project_root)[0] == {}


def test_flank_keys_view_modes_and_full_resolution(window, project_root, qtbot):
    anchor, _ = shown(window)
    before = flanks(project_root)[anchor]
    press(window, qtbot, Qt.Key.Key_L if before == Flank.RIGHT else Qt.Key.Key_R)
    after = flanks(project_root)[anchor]
    assert after != before and after in (Flank.LEFT, Flank.RIGHT)
    assert_nothing_settled_is_proposed(window, project_root)  # candidates now follow the new flank
    press(window, qtbot, Qt.Key.Key_U)
    assert flanks(project_root)[anchor] is None

    card = window.review.anchor_card
    shown_images = {}
    for key, mode in ((Qt.Key.Key_M, ViewMode.MASKED), (Qt.Key.Key_E, ViewMode.EDGE), (Qt.Key.Key_P, ViewMode.PHOTO)):
        press(window, qtbot, key)
        assert window.review.mode == mode and card.pane.has_image
        shown_images[mode] = window.review.images[anchor][mode]
    assert shown_images[ViewMode.EDGE].isGrayscale() and not shown_images[ViewMode.PHOTO].isGrayscale()
    assert shown_images[ViewMode.MASKED] != shown_images[ViewMode.PHOTO]

    panes = [window.review.anchor_card.pane] + [c.pane for c in window.review.candidate_cards if c.pane.has_image]
    press(window, qtbot, Qt.Key.Key_Plus)  # zoom: every pane follows the anchor's
    assert all(pane.zoom == pytest.approx(1.25) for pane in panes)
    panes[2].zoom_by(1.25)  # a wheel turn over any pane drives the others
    assert all(pane.zoom == pytest.approx(1.5625) for pane in panes)
    press(window, qtbot, Qt.Key.Key_0)
    assert all(pane.zoom == pytest.approx(1.0) for pane in panes)

    press(window, qtbot, Qt.Key.Key_F)
    qtbot.waitUntil(lambda: window.full_resolution is not None and window.full_resolution.isVisible(), timeout=10000)
    with open_project(project_root) as project, project.sessions() as session:
        width = session.scalar(select(Image.width).join(Detection).where(Detection.id == anchor))
    original = window.full_resolution.cards[0].pane.scene().sceneRect()
    assert original.width() == width  # the original photo, not the cached crop


def match_outside(window, qtbot, root, taken: frozenset[int]) -> frozenset[int]:
    """Confirm, from the keyboard, a match between two animals outside ``taken``; returns their individual."""
    for animal in sorted(flanks(root)):
        if animal in taken:
            continue
        window.review.load(animal)
        settle(window, qtbot)
        candidates = shown(window)[1]
        if candidates and candidates[0] not in taken:
            press(window, qtbot, Qt.Key.Key_1)
            return store_state(root)[1].component(animal)
    raise AssertionError("no pair left outside the first individual")


def test_individuals_rename_merge_and_split(window, project_root, qtbot):
    first = match_outside(window, qtbot, project_root, frozenset())
    second = match_outside(window, qtbot, project_root, first)
    first_anchor, second_anchor = min(first), min(second)
    _, graph = store_state(project_root)
    window.tabs.setCurrentWidget(window.individuals)
    settle(window, qtbot)
    view = window.individuals
    assert [row.count for row in view.model.rows] == [2, 2]
    assert {frozenset(row.members) for row in view.model.rows} == {graph.component(first_anchor), graph.component(second_anchor)}

    name_index = view.model.index(0, 0)  # rename by editing the name cell
    member = view.model.rows[0].id
    view.model.setData(name_index, "Kali")
    settle(window, qtbot)
    with open_project(project_root) as project, project.sessions() as session:
        assert session.scalar(select(IndividualName.name).where(IndividualName.detection_id == member)) == "Kali"
    assert any(row.name == "Kali" for row in view.model.rows)

    view.table.selectAll()
    view.merge_button.click()
    assert "into one individual of 4 photos?" in view.merge_question.text()  # it asks first
    view.merge_question.button(view.merge_question.StandardButton.Yes).click()
    settle(window, qtbot)
    _, graph = store_state(project_root)
    merged = graph.component(first_anchor)
    assert merged == graph.component(second_anchor) and len(merged) == 4
    assert [row.count for row in view.model.rows] == [4]
    assert window.review.proposal is not None
    with qtbot.waitSignal(window.review.proposal_shown, timeout=30000):  # it heard of the merge and fetches its candidates again
        window.tabs.setCurrentWidget(window.review)
    settle(window, qtbot)
    assert_nothing_settled_is_proposed(window, project_root)  # the merged individual's members are never proposed together
    window.tabs.setCurrentWidget(window.individuals)
    settle(window, qtbot)

    view.table.selectRow(0)
    settle(window, qtbot)
    assert view.gallery.count() == 4 and view.links.count() == 3
    links = [view.links.item(row).data(Qt.ItemDataRole.UserRole) for row in range(view.links.count())]
    bridge = next(row for row, (u, v) in enumerate(links) if (u in first) != (v in first))  # the link the merge made
    view.links.setCurrentRow(bridge)
    cut = links[bridge]
    view.unlink_button.click()  # remove a wrong link
    settle(window, qtbot)
    decisions, graph = store_state(project_root)
    assert decisions[cut] == DecisionKind.NONMATCH or decisions[cut[::-1]] == DecisionKind.NONMATCH
    assert cut[1] not in graph.component(cut[0])
    assert {frozenset(row.members) for row in view.model.rows} == {first, second}


def test_conflicts_are_listed_and_resolved(window, project_root, qtbot):
    anchor, candidates = shown(window)
    press(window, qtbot, Qt.Key.Key_1)
    first = candidates[0]
    window.review.load(first)  # go to the candidate as anchor and match it with another animal
    settle(window, qtbot)
    third = shown(window)[1][0]
    press(window, qtbot, Qt.Key.Key_1)
    # A second reviewer (the CLI, say) rejected the pair the two matches join: a conflict.
    from pelage.review.actions import decide

    with open_project(project_root) as project:
        decide(project, anchor, third, DecisionKind.NONMATCH)
    window.reload_session()  # F5: re-read the store
    qtbot.waitUntil(lambda: window.session is not None, timeout=30000)
    settle(window, qtbot)
    assert window.tabs.tabText(window.tabs.indexOf(window.conflicts)) == "Conflicts (1)"
    window.tabs.setCurrentWidget(window.conflicts)
    settle(window, qtbot)
    view = window.conflicts
    assert view.list.count() == 1 and {view.left.animal_id, view.right.animal_id} == {anchor, third}
    assert f"#{first}" in view.explanation.text()  # the chain of matches joining them is shown

    view.different_button.click()
    settle(window, qtbot)
    decisions, graph = store_state(project_root)
    assert graph.conflicts() == [] and third not in graph.component(anchor)
    assert decisions[(anchor, third)] == DecisionKind.NONMATCH
    assert view.list.count() == 0 and window.tabs.tabText(window.tabs.indexOf(window.conflicts)) == "Conflicts"


def test_keys_still_work_after_the_shortcut_overlay_and_a_dialog(window, project_root, qtbot):
    """F1 → Esc used to leave the focus on the window's frame, and P/M/E and 1–5 then did nothing."""
    anchor, candidates = shown(window)
    for open_key in (Qt.Key.Key_F1, Qt.Key.Key_Question):
        key_on_window(window, qtbot, open_key)
        assert window.help_overlay.isVisible()
        key_on_window(window, qtbot, Qt.Key.Key_Escape)
        assert not window.help_overlay.isVisible()
        key_on_window(window, qtbot, Qt.Key.Key_M)
        assert window.review.mode == ViewMode.MASKED
        key_on_window(window, qtbot, Qt.Key.Key_P)
        assert window.review.mode == ViewMode.PHOTO
    window.help_overlay.toggle()  # Help ▸ Keyboard shortcuts, then a click closes it
    qtbot.mouseClick(window.help_overlay, Qt.MouseButton.LeftButton)
    assert not window.help_overlay.isVisible()

    key_on_window(window, qtbot, Qt.Key.Key_F)  # the full-resolution window, closed with Esc
    qtbot.waitUntil(lambda: window.full_resolution is not None and window.full_resolution.isVisible(), timeout=10000)
    qtbot.keyClick(window.full_resolution, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.full_resolution.isVisible())
    activate(window, qtbot)
    key_on_window(window, qtbot, Qt.Key.Key_E)
    assert window.review.mode == ViewMode.EDGE

    key_on_window(window, qtbot, Qt.Key.Key_1)
    assert store_state(project_root)[0] == {(anchor, candidates[0]): DecisionKind.MATCH}


def test_answered_candidates_keep_their_slots_greyed_until_the_anchor_is_finished(window, project_root, qtbot):
    review = window.review
    anchor, candidates = shown(window)
    assert len(candidates) >= 4, "the leopard project shows at least four candidates for its first anchor"
    slots = review.candidate_ids
    assert slots == candidates and "Nothing decided" in review.answers_label.text()

    key_on_window(window, qtbot, Qt.Key.Key_X)  # slot 1 is a different animal
    assert shown(window)[0] == anchor and candidates[0] not in shown(window)[1]  # the core no longer proposes it…
    assert review.candidate_ids[:len(slots)] == slots  # …but nothing moved on screen
    first = review.candidate_cards[0]
    assert first.animal_id == candidates[0] and first.greyed and first.decision_text == "✗ Different animal"
    assert review.selected == 1 and not review.candidate_cards[1].greyed

    key_on_window(window, qtbot, Qt.Key.Key_C)  # slot 2 cannot be judged
    assert review.candidate_ids[:len(slots)] == slots and review.selected == 2
    assert review.candidate_cards[1].decision_text == "≈ Not comparable" and review.candidate_cards[1].greyed
    line = review.answers_label.text()
    assert f"✗ different from #{candidates[0]}" in line and f"≈ not comparable with #{candidates[1]}" in line

    key_on_window(window, qtbot, Qt.Key.Key_Left)
    key_on_window(window, qtbot, Qt.Key.Key_Left)
    assert review.selected == 0
    key_on_window(window, qtbot, Qt.Key.Key_X)  # the same answer again on slot 1: nothing new is saved
    assert len(store_state(project_root)[0]) == 2 and "already answered" in window.statusBar().currentMessage()

    key_on_window(window, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo "not comparable": slot 2 opens in place
    assert review.candidate_ids[:len(slots)] == slots
    assert not review.candidate_cards[1].greyed and review.candidate_cards[0].greyed

    key_on_window(window, qtbot, Qt.Key.Key_X, Qt.KeyboardModifier.ShiftModifier)  # none of the open ones: only they are answered
    decisions, _ = store_state(project_root)
    assert decisions == {(anchor, c): DecisionKind.NONMATCH for c in candidates}
    assert shown(window)[0] != anchor  # five answers finish the anchor: fresh slots for the next
    assert not any(card.greyed for card in review.candidate_cards)


def test_scores_say_what_they_are_and_a_click_on_a_photo_selects_its_card(window, qtbot):
    review = window.review
    card = review.candidate_cards[2]
    candidate = review.slot_candidate(2)
    assert "same animal" in card.title.text() and ("matched keypoints" in card.title.text() or "not checked" in card.title.text())
    assert "cosine" not in card.title.text() and f"{candidate.cosine:.3f}" in card.toolTip()
    assert "calibrated" in card.toolTip() and "keypoints" in card.toolTip()

    qtbot.mouseClick(card.pane.viewport(), Qt.MouseButton.LeftButton, pos=card.pane.viewport().rect().center())
    assert review.selected == 2 and card.property("selected")
    key_on_window(window, qtbot, Qt.Key.Key_X)  # the keys answer about the card clicked
    anchor = review.proposal.anchor.id
    assert store_state(window.project.root)[0] == {(anchor, candidate.id): DecisionKind.NONMATCH}


def test_review_resumes_at_the_anchor_on_screen_and_other_views_hear_the_changes(window, project_root, tmp_path, qtbot):
    first, _ = shown(window)
    key_on_window(window, qtbot, Qt.Key.Key_N)  # leave the first anchor for later: nothing is decided
    second, candidates = shown(window)
    assert second != first and store_state(project_root)[0] == {}
    with qtbot.waitSignal(window.review.events.individuals_changed, timeout=10000):
        key_on_window(window, qtbot, Qt.Key.Key_X)  # the session's event reaches the GUI thread as a signal
    window.close()

    reopened = MainWindow(tmp_path / "settings.json")
    qtbot.addWidget(reopened)
    activate(reopened, qtbot)
    assert reopened.open_project_folder(project_root)
    qtbot.waitUntil(lambda: reopened.review.proposal is not None, timeout=30000)
    settle(reopened, qtbot)
    assert shown(reopened)[0] == second  # where the reviewer was, not the store's first anchor
    assert f"✗ different from #{candidates[0]}" in reopened.review.answers_label.text()
    reopened.close()
