//! The comparison plot: two panels against offered load, p99 latency of the
//! whole scenario (left) and CPU-µs per message (right), one line per system.
//! Plain SVG written by hand (no plotting dependency).

use serde_json::Value;

const COLORS: [&str; 4] = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd"];
const W: f64 = 420.0;
const H: f64 = 300.0;
const PAD: f64 = 50.0;

struct Series {
    name: String,
    points: Vec<(f64, f64)>,
}

fn series(doc: &Value, field: &dyn Fn(&Value) -> Option<f64>) -> Vec<Series> {
    doc["systems"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| Series {
            name: s["system"].as_str().unwrap_or("?").to_string(),
            points: s["points"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| Some((p["offered_rate"].as_f64()?, field(p)?)))
                .collect(),
        })
        .collect()
}

fn panel(out: &mut String, x0: f64, title: &str, data: &[Series]) {
    let all: Vec<(f64, f64)> = data.iter().flat_map(|s| s.points.iter().copied()).collect();
    let xmax = all.iter().map(|p| p.0).fold(1.0, f64::max) * 1.05;
    let ymax = all.iter().map(|p| p.1).fold(1e-9, f64::max) * 1.15;
    let px = |x: f64| x0 + PAD + x / xmax * (W - 2.0 * PAD);
    let py = |y: f64| H - PAD - y / ymax * (H - 2.0 * PAD);
    out.push_str(&format!(
        "<text x=\"{}\" y=\"20\" font-size=\"13\" text-anchor=\"middle\">{title}</text>\n",
        x0 + W / 2.0
    ));
    out.push_str(&format!(
        "<line x1=\"{a}\" y1=\"{b}\" x2=\"{c}\" y2=\"{b}\" stroke=\"black\"/><line x1=\"{a}\" y1=\"{b}\" x2=\"{a}\" y2=\"{d}\" stroke=\"black\"/>\n",
        a = x0 + PAD,
        b = H - PAD,
        c = x0 + W - PAD,
        d = PAD
    ));
    for i in 0..=4 {
        let (xv, yv) = (xmax * f64::from(i) / 4.0, ymax * f64::from(i) / 4.0);
        out.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{xv:.0}</text>\n",
            px(xv),
            H - PAD + 14.0
        ));
        out.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{yv:.1}</text>\n",
            x0 + PAD - 4.0,
            py(yv) + 3.0
        ));
    }
    out.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">offered load (scenarios/s)</text>\n",
        x0 + W / 2.0,
        H - 12.0
    ));
    for (i, s) in data.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<String> = s.points.iter().map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y))).collect();
        out.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>\n",
            pts.join(" ")
        ));
        for &(x, y) in &s.points {
            out.push_str(&format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"/>\n",
                px(x),
                py(y)
            ));
        }
        out.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"{color}\">{}{}</text>\n",
            x0 + PAD + 8.0,
            PAD + 14.0 * i as f64,
            s.name,
            if s.points.is_empty() { " (failed)" } else { "" }
        ));
    }
}

/// The SVG document for a comparison's results.json.
pub fn plot(doc: &Value) -> String {
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{H}\" font-family=\"sans-serif\">\n",
        2.0 * W
    );
    out.push_str("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    let latency = series(doc, &|p| p["latency_us"]["p99"].as_f64().map(|us| us / 1000.0));
    let cpu = series(doc, &|p| p["cpu_us_per_message"].as_f64());
    panel(
        &mut out,
        0.0,
        &format!("{}: p99 scenario latency (ms)", doc["workload"].as_str().unwrap_or("?")),
        &latency,
    );
    panel(&mut out, W, "system CPU-µs per message", &cpu);
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn one_line_per_system() {
        let doc = json!({"workload": "stateless", "systems": [
            {"system": "kamailio", "points": [{"offered_rate": 1000.0, "cpu_us_per_message": 9.0, "latency_us": {"p99": 800}},
                                               {"offered_rate": 2000.0, "cpu_us_per_message": 8.0, "latency_us": {"p99": 900}}]},
            {"system": "sipshard", "points": []}]});
        let svg = super::plot(&doc);
        assert_eq!(svg.matches("<polyline").count(), 4);
        assert!(svg.contains("sipshard (failed)"));
        assert!(svg.ends_with("</svg>\n"));
    }
}
