"""Server-drawn SVG charts for the portal: geometry computed here, drawn by templates, no JavaScript."""

from billing.money import format_cost

WIDTH, HEIGHT = 720, 200
LEFT, RIGHT, TOP, BOTTOM = 84, 28, 12, 28


def _nice_ceiling(nanos: int) -> int:
    """The smallest 1, 2 or 5 × 10^n nano-dollars at or above `nanos` (a readable top for the axis)."""
    if nanos <= 0:
        return 1_000_000_000  # an empty chart still reads $0 to $1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= nanos:
                return step * factor
        step *= 10


def spend_chart(days: list[dict]) -> dict:
    """Bars for daily spend (`days`: day, cost_nanos, requests), with axis ticks and labels."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = _nice_ceiling(max((d["cost_nanos"] for d in days), default=0))
    step = plot_w / max(len(days), 1)
    bars = []
    for i, day in enumerate(days):
        height = round(day["cost_nanos"] / top * plot_h, 1)
        if day["cost_nanos"] and height < 1:
            height = 1  # a day with any spend stays visible
        bars.append(
            {
                "x": round(LEFT + i * step + step * 0.15, 1),
                "y": round(TOP + plot_h - height, 1),
                "width": round(step * 0.7, 1),
                "height": height,
                "day": day["day"],
                "label": f"{day['day']:%b %-d}: {format_cost(day['cost_nanos'])}, {day['requests']} requests",
                "tick": (len(days) - 1 - i) % 7 == 0,  # weekly labels, ending today
                "tick_x": round(LEFT + i * step + step / 2, 1),
            }
        )
    ticks = [
        {"y": round(TOP + plot_h - plot_h * value / top, 1), "label": format_cost(value)}
        for value in (0, top // 2, top)
    ]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "baseline": TOP + plot_h,
        "label_y": HEIGHT - 8,
        "bars": bars,
        "ticks": ticks,
        "total_nanos": sum(d["cost_nanos"] for d in days),
        "requests": sum(d["requests"] for d in days),
    }
