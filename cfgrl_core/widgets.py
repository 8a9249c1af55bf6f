"""The notebooks' slider plots: an Output widget that shows a figure and draws it again when a slider moves.

    out = SliderPlot(draw_decision)                 # draw_decision(value) makes a matplotlib figure
    w_slider = widgets.FloatSlider(value=1.0, min=0.0, max=5.0, step=0.25, description="w", continuous_update=False)
    w_slider.observe(out.on_change, names="value")  # the wiring stays in the notebook, where a reader sees it
    out.show(w_slider)                              # draws the slider's value and displays slider and figure
    display(widgets.HBox([out_a.view(a_slider), out_b.view(b_slider)]))   # two of them side by side

Everything a slider shows is computed before it is shown (one sampling call for the whole grid of values), so a
move only redraws. A `SliderPlot` is an `ipywidgets.Output`: the tests find it, as any Output, among the notebook's
variables, and the browser tests see the figure it holds.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets


class SliderPlot(widgets.Output):
    """An Output holding the figure `draw(value)` makes, for the current value of the slider that drives it."""

    def __init__(self, draw: Callable, **kwargs):
        super().__init__(**kwargs)
        self._draw = draw

    def redraw(self, value) -> None:
        """Replace what the output shows by the figure of `value`."""
        import matplotlib.pyplot as plt

        with self:
            self.clear_output(wait=True)
            self._draw(value)
            plt.show()

    def on_change(self, change: dict) -> None:
        """An `observe` callback: redraw at the slider's new value."""
        self.redraw(change["new"])

    def view(self, *sliders) -> widgets.VBox:
        """Draw the first slider's current value; return the sliders above the figure, to display or lay out."""
        self.redraw(sliders[0].value)
        return widgets.VBox([*sliders, self])

    def show(self, *sliders) -> None:
        """Draw the first slider's current value and display the sliders above the figure."""
        from IPython.display import display

        display(self.view(*sliders))
