"""Every keyboard shortcut in one table: the actions, the button labels and the help overlay read it,
so what the window shows is always what the keys do."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shortcut:
    name: str  # action name used in code
    keys: tuple[str, ...]  # QKeySequence strings; the first is shown on buttons
    label: str  # shown on buttons and in menus
    help: str  # one line for the help overlay and the tooltip
    group: str = "Review"

    @property
    def shown(self) -> str:
        """How the keys read to a person: 'Ctrl+Shift+Z / Ctrl+Y'."""
        return " / ".join(self.keys)


MATCH_KEYS = tuple(str(k) for k in range(1, 6))

SHORTCUTS: tuple[Shortcut, ...] = (
    *(Shortcut(f"match_{k}", (k,), f"Match {k}", f"Candidate {k} is the same animal as the anchor (confirm match)") for k in MATCH_KEYS),
    Shortcut("match_selected", ("Return",), "Match", "The selected candidate is the same animal (confirm match)"),
    Shortcut("nonmatch", ("X",), "Not a match", "The selected candidate is a different animal"),
    Shortcut("nonmatch_all", ("Shift+X",), "None match", "None of the undecided candidates shown is the anchor's animal"),
    Shortcut("notcomparable", ("C",), "Not comparable", "The pair cannot be judged (poor view, other body part)"),
    Shortcut("skip", ("S",), "Skip candidate", "Pass over the selected candidate without an answer (it may come back later)"),
    Shortcut("next_anchor", ("N",), "Next anchor", "Leave this anchor for later and show the next one in review order"),
    Shortcut("undo", ("Ctrl+Z",), "Undo", "Undo the last answer: one decision, or every one a None match saved "
                                          "(kept in the store as retractions)"),
    Shortcut("redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "Redo", "Redo what the last undo took back"),
    Shortcut("select_next", ("Right", "Down"), "Next candidate", "Select the next candidate", "Navigate"),
    Shortcut("select_previous", ("Left", "Up"), "Previous candidate", "Select the previous candidate", "Navigate"),
    Shortcut("flank_left", ("L",), "Left flank", "The anchor shows its left flank", "Flank"),
    Shortcut("flank_right", ("R",), "Right flank", "The anchor shows its right flank", "Flank"),
    Shortcut("flank_unknown", ("U",), "Flank unknown", "The anchor's flank is not known", "Flank"),
    Shortcut("view_photo", ("P",), "Photo", "Show the photo crops", "View"),
    Shortcut("view_masked", ("M",), "Masked", "Show the crops with the background removed", "View"),
    Shortcut("view_edge", ("E",), "Edges", "Show the edge channel (the spot pattern's outlines)", "View"),
    Shortcut("full_resolution", ("F",), "Full resolution", "Open the anchor and the selected candidate at full resolution", "View"),
    Shortcut("zoom_in", ("+", "="), "Zoom in", "Zoom every image in (or turn the mouse wheel; drag to pan)", "View"),
    Shortcut("zoom_out", ("-",), "Zoom out", "Zoom every image out", "View"),
    Shortcut("zoom_fit", ("0",), "Fit", "Fit every image to its pane (or double-click an image)", "View"),
    Shortcut("help", ("F1", "?"), "Shortcuts", "Show or hide this list of shortcuts", "Help"),
)

BY_NAME = {shortcut.name: shortcut for shortcut in SHORTCUTS}


def help_rows() -> list[tuple[str, str, str]]:
    """(group, keys, what it does) for the help overlay; the five match keys share one row."""
    rows = [("Review", "1 – 5", "Confirm candidate 1–5 as the same animal (match)")]
    rows += [(s.group, s.shown, s.help) for s in SHORTCUTS if not s.name.startswith("match_") or s.name == "match_selected"]
    return rows
