//! Line plots as inline SVG, drawn on the server from a topic's history:
//! one polyline per series in a fixed view box that the page scales, a
//! base line, the top of the scale and the time span as text. The newest
//! point sits at the right edge; a series shorter than the window started
//! later and begins further right. No script and no font are needed.

use maud::{html, Markup};

/// The view box: the plot area, and room on the left for the scale.
const WIDTH: f32 = 640.0;
const HEIGHT: f32 = 170.0;
const LEFT: f32 = 84.0;
const TOP: f32 = 8.0;
const BOTTOM: f32 = 24.0;

/// One line of a plot.
pub struct Line<'a> {
    pub label: &'a str,
    pub points: &'a [f32],
}

/// A plot of `lines` over a window of `slots` points; `unit` formats the
/// top of the scale. `id` names the element for live refresh.
pub fn plot(
    id: &str,
    title: &str,
    lines: &[Line<'_>],
    slots: usize,
    unit: fn(f64) -> String,
) -> Markup {
    let max = lines
        .iter()
        .flat_map(|line| line.points.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0_f32, f32::max);
    let top = nice_ceiling(max);
    let slots = slots.max(2);
    let plot_width = WIDTH - LEFT - 4.0;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let x_of = |slot: usize| LEFT + plot_width * slot as f32 / (slots - 1) as f32;
    let y_of = |value: f32| TOP + plot_height * (1.0 - (value.max(0.0) / top).min(1.0));
    let empty = lines.iter().all(|line| line.points.is_empty());
    html! {
        div.card.plot id=(id) data-live {
            h2 { (title) }
            svg viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-label=(title) {
                line.axis x1=(LEFT) y1=(TOP + plot_height) x2=(WIDTH - 4.0) y2=(TOP + plot_height) {}
                line.axis x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(TOP + plot_height) {}
                text x=(LEFT - 6.0) y=(TOP + 14.0) text-anchor="end" { (unit(f64::from(top))) }
                text x=(LEFT - 6.0) y=(TOP + plot_height) text-anchor="end" { "0" }
                text x=(LEFT) y=(HEIGHT - 4.0) { (format!("-{} min", slots * 10 / 60)) }
                text x=(WIDTH - 4.0) y=(HEIGHT - 4.0) text-anchor="end" { "now" }
                @if empty {
                    text x=(LEFT + plot_width / 2.0) y=(TOP + plot_height / 2.0) text-anchor="middle" {
                        "no history yet: points come every 10 s while the topic is loaded"
                    }
                }
                @for (i, line) in lines.iter().enumerate() {
                    @let start = slots.saturating_sub(line.points.len());
                    @let skip = line.points.len().saturating_sub(slots);
                    polyline class=(format!("s{}", i % 4)) points=(
                        line.points[skip..]
                            .iter()
                            .enumerate()
                            .map(|(k, v)| format!("{:.1},{:.1}", x_of(start + k), y_of(*v)))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ) {}
                }
            }
            div.legend {
                @for (i, line) in lines.iter().enumerate() {
                    span { i class=(format!("s{}", i % 4)) {} (line.label) ": " (unit(f64::from(line.points.last().copied().unwrap_or(0.0)))) }
                }
            }
        }
    }
}

/// The smallest of 1, 2 or 5 times a power of ten at or above `value`
/// (at least 1), so the scale reads well.
fn nice_ceiling(value: f32) -> f32 {
    // NaN and anything up to 1 get the smallest scale.
    if value.is_nan() || value <= 1.0 {
        return 1.0;
    }
    let power = 10f32.powf(value.log10().floor());
    for step in [1.0, 2.0, 5.0, 10.0] {
        if step * power >= value {
            return step * power;
        }
    }
    10.0 * power
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_rounds_up_to_a_round_number() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(f32::NAN), 1.0);
        assert_eq!(nice_ceiling(3.0), 5.0);
        assert_eq!(nice_ceiling(120.0), 200.0);
        assert_eq!(nice_ceiling(1000.0), 1000.0);
    }

    #[test]
    fn points_are_placed_from_the_right() {
        let points = [0.0, 10.0];
        let svg = plot(
            "p",
            "rate",
            &[Line {
                label: "in",
                points: &points,
            }],
            90,
            |v| format!("{v}"),
        )
        .into_string();
        // Two points: the last at the right edge, at the top of a scale of 10.
        assert!(
            svg.contains(&format!("{:.1},{:.1}", WIDTH - 4.0, TOP)),
            "{svg}"
        );
        assert!(svg.contains("polyline"));
        assert!(!svg.contains("no history yet"));
    }

    #[test]
    fn an_empty_history_says_so() {
        let svg = plot(
            "p",
            "rate",
            &[Line {
                label: "in",
                points: &[],
            }],
            90,
            |v| format!("{v}"),
        )
        .into_string();
        assert!(svg.contains("no history yet"));
    }
}
