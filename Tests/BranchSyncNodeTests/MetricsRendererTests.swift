import BranchSyncCore
import Testing

@testable import BranchSyncNode

/// The Prometheus text format 0.0.4 as `MetricsRenderer` writes it, byte for byte.
@Suite struct MetricsRendererTests {
    @Test func labelValuesEscapeBackslashQuoteAndLineFeed() {
        #expect(MetricsRenderer.escapeLabelValue(#"a\b"#) == #"a\\b"#)
        #expect(MetricsRenderer.escapeLabelValue(#"say "hi""#) == #"say \"hi\""#)
        #expect(MetricsRenderer.escapeLabelValue("two\nlines") == #"two\nlines"#)
        #expect(MetricsRenderer.escapeLabelValue("北京\t{x}") == "北京\t{x}")
        #expect(MetricsRenderer.escapeHelp("a \"quoted\" \\ path\nnext") == #"a "quoted" \\ path\nnext"#)
    }

    @Test func familiesRenderAsHelpTypeThenSamples() {
        var gauge = MetricFamily("branchsync_site_online", .gauge, help: "1 when online.\nElse 0.")
        gauge.add([("site", "bj01")], true)
        gauge.add([("site", "x\"\\\ny")], false)
        var counter = MetricFamily("branchsync_changes_applied_total", .counter, help: "Changes.")
        counter.add([], 42 as Int64)
        let empty = MetricFamily("branchsync_hub_connected", .gauge, help: "Connected.")
        let text = MetricsRenderer.render([gauge, counter, empty])
        #expect(
            text == """
                # HELP branchsync_site_online 1 when online.\\nElse 0.
                # TYPE branchsync_site_online gauge
                branchsync_site_online{site="bj01"} 1
                branchsync_site_online{site="x\\"\\\\\\ny"} 0
                # HELP branchsync_changes_applied_total Changes.
                # TYPE branchsync_changes_applied_total counter
                branchsync_changes_applied_total 42
                # HELP branchsync_hub_connected Connected.
                # TYPE branchsync_hub_connected gauge

                """)
    }

    @Test func valuesUseTheFormatsSpellings() {
        #expect(MetricsRenderer.format(0) == "0")
        #expect(MetricsRenderer.format(-3) == "-3")
        #expect(MetricsRenderer.format(1_700_000_000) == "1700000000")
        #expect(MetricsRenderer.format(0.25) == "0.25")
        #expect(MetricsRenderer.format(.infinity) == "+Inf")
        #expect(MetricsRenderer.format(-.infinity) == "-Inf")
        #expect(MetricsRenderer.format(.nan) == "NaN")
        #expect(MetricsRenderer.format(1e300) == "1e+300")
    }
}
