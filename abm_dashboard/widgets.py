"""Inputs that trust nothing from the browser, and the chart frame.

A Solara ``Select`` does not check that the value it receives is one of its options: the page's
JavaScript can set any value on the widget and send it over the websocket (issue 11). Every
input here checks the value against what the page offered, server-side, before anything acts
on it; anything else is refused with one line (``Refused: ...``) shown on the page, the widget
is redrawn with the last valid value, and nothing else happens. :func:`guarded` wraps event
handlers so that an unexpected error becomes one line on the page, never a traceback (the
traceback goes to the server log).
"""

from __future__ import annotations

import functools
import html
import logging
from collections.abc import Callable, Sequence
from typing import Any

import reacton.ipyvuetify as rv
import solara

from abm_dashboard.svg import Layout

__all__ = [
    "ChartFrame",
    "Prose",
    "SizedChart",
    "Countdown",
    "SafeCheckbox",
    "SafeSelect",
    "guarded",
    "refusal",
]

log = logging.getLogger("abm_dashboard")

#: width of a chart frame the server accepts from the page, CSS px
MIN_WIDTH, MAX_WIDTH = 200, 4000


def refusal(label: str, value: Any, allowed: Sequence[Any] | None = None) -> str:
    """One line saying that a value sent by the page is not one it offered.

    Args:
        label: the control.
        value: what arrived (shown shortened).
        allowed: the offered values (listed when few).
    """
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    text = f"Refused: {shown} is not a value the {label!r} control offers"
    if allowed is not None and len(allowed) <= 8:
        text += " (" + ", ".join(str(a) for a in allowed) + ")"
    return text + "; nothing was changed."


def guarded(report: Callable[[str], None]) -> Callable[[Callable], Callable]:
    """Decorate an event handler so that any exception becomes one line for the page.

    Args:
        report: shows the line (e.g. sets the page's error message).

    Returns:
        A decorator; the wrapped handler returns None after an exception.
    """

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - shown as one line, logged in full
                log.exception("handler %s failed", getattr(fn, "__name__", fn))
                text = " ".join(str(exc).split())[:200]
                report(f"Something went wrong ({type(exc).__name__}: {text}); "
                       "the page keeps working.")
                return None

        return wrapper

    return decorate


@solara.component
def SafeSelect(label: str, options: Sequence[tuple[Any, str]], value: Any,
               on_value: Callable[[Any], None], on_refuse: Callable[[str], None],
               classes: Sequence[str] = (), disabled: bool = False, hint: str = ""):
    """A select whose value is checked server-side against its own options.

    Args:
        label: the label (tests and guides find the control by it).
        options: ``(value, text)`` pairs; only these values are accepted.
        value: the current value (one of the options).
        on_value: called with an accepted value.
        on_refuse: called with one line when the page sends anything else.
        classes: CSS classes.
        disabled: greyed out.
        hint: a line of help under the control.
    """
    allowed = [o[0] for o in options]
    refused, set_refused = solara.use_state(0)

    def changed(new):
        if any(new == a and type(new) is type(a) for a in allowed):
            if new != value:
                on_value(new)
            return
        set_refused(refused + 1)  # redraw the widget with the last valid value
        on_refuse(refusal(label, new, [o[1] for o in options]))

    items = [{"title": text, "text": text, "value": val} for val, text in options]
    return rv.Select(label=label, items=items, v_model=value, on_v_model=changed,
                     disabled=disabled, class_=" ".join(classes), hint=hint,
                     persistent_hint=bool(hint), density="compact").key(f"{label}-{refused}")


@solara.component
def SafeCheckbox(label: str, value: bool, on_value: Callable[[bool], None],
                 on_refuse: Callable[[str], None], classes: Sequence[str] = ()):
    """A checkbox that accepts only ``True`` or ``False`` from the page.

    Args:
        label: the label.
        value: current state.
        on_value: called with an accepted value.
        on_refuse: called with one line when the page sends anything else.
        classes: CSS classes.
    """
    refused, set_refused = solara.use_state(0)

    def changed(new):
        if isinstance(new, bool):
            if new != value:
                on_value(new)
            return
        set_refused(refused + 1)
        on_refuse(refusal(label, new, ["on", "off"]))

    return rv.Checkbox(label=label, v_model=value, on_v_model=changed, class_=" ".join(classes),
                       density="compact", hide_details=True).key(f"{label}-{refused}")


@solara.component_vue("chart_frame.vue")
def _ChartFrameVue(svg: str, name: str, title: str, filename: str,
                   event_resize: Callable[[Any], None] | None = None):
    pass


@solara.component
def ChartFrame(svg: str, name: str, title: str, on_width: Callable[[int], None],
               filename: str = ""):
    """One server-drawn SVG chart with hover values, SVG/PNG downloads and width reporting.

    The frame reports its width in CSS px; widths outside [200, 4000] or not whole numbers are
    ignored (the value comes from the page).

    Args:
        svg: the chart.
        name: its name (CSS class ``chart-frame-<name>``, download file name).
        title: its title (download buttons' labels).
        on_width: called with a new width.
        filename: download file name without extension.
    """

    def resized(width):
        if isinstance(width, int | float) and not isinstance(width, bool) \
                and MIN_WIDTH <= width <= MAX_WIDTH:
            on_width(int(width))

    return _ChartFrameVue(svg=svg, name=name, title=title, filename=filename or name,
                          event_resize=resized)


@solara.component
def SizedChart(name: str, title: str, draw: Callable[[Layout], str], dependencies: list,
               font: float = 13.0, max_plot_height: float = 380.0, filename: str = ""):
    """A chart drawn for the width its frame reports (redrawn when a dependency changes).

    Args:
        name: chart name.
        title: chart title (download buttons).
        draw: ``Layout -> SVG``; an exception becomes a one-line error box.
        dependencies: values whose change redraws the chart.
        font: base font size, px.
        max_plot_height: tallest plot area, px.
        filename: download file name without extension.
    """
    width, set_width = solara.use_state(0)
    layout = Layout(width=width or 640, font=font, max_plot_height=max_plot_height)
    svg = solara.use_memo(lambda: drawn(lambda: draw(layout), title.lower()),
                          dependencies=[*dependencies, width, font, max_plot_height])
    return ChartFrame(svg=svg, name=name, title=title, on_width=set_width,
                      filename=filename or name)


def drawn(draw: Callable[[], str], name: str) -> str:
    """Call a chart function; on failure return a visible one-line error instead of raising.

    A view that cannot draw (unexpected model data) must not take the page down with it.
    """
    try:
        return draw()
    except Exception as exc:  # noqa: BLE001 - shown to the user, the page keeps working
        log.exception("chart %s failed", name)
        text = html.escape(" ".join(str(exc).split())[:200])
        return (f'<div class="view-error" style="color:#b00020">Could not draw the {name}: '
                f"{html.escape(type(exc).__name__)}: {text}</div>")


@solara.component
def Prose(text: str, classes: Sequence[str] = ()):
    """Markdown written by the project (never by a visitor), rendered to HTML on the server.

    ``solara.Markdown`` would make every browser fetch the mermaid diagram library (~3 MB)
    for text that has no diagrams; a classroom of phones on a school network should not.
    """
    import markdown

    body = markdown.markdown(text, extensions=["sane_lists"])
    return solara.HTML(tag="div", unsafe_innerHTML=body, classes=["prose", *classes])


@solara.component_vue("countdown.vue")
def Countdown(remaining_ms: float, label: str = "Round closes in"):
    """A countdown that ticks in the browser.

    It starts from ``remaining_ms`` (milliseconds, as the server counted them when it drew the
    page).
    """

