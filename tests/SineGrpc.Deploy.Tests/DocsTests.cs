using SineGrpc.Deploy.Tests.Support;

namespace SineGrpc.Deploy.Tests;

/// <summary>docs/deploy.md carries what the manifests rely on but cannot hold themselves.</summary>
public class DocsTests
{
    private static readonly Lazy<string> Deploy = new(() => File.ReadAllText(Repo.File("docs", "deploy.md")));

    [Fact]
    public void It_has_the_prometheus_adapter_rule_for_the_hpa_metric()
    {
        var hpaMetric = Yaml.Str(Chart.Render().Single("HorizontalPodAutoscaler").Root, "spec", "metrics", 0, "pods", "metric", "name");
        Assert.Contains($"seriesQuery: '{hpaMetric}{{namespace!=\"\",pod!=\"\"}}'", Deploy.Value);
        Assert.Contains($"as: \"{hpaMetric}\"", Deploy.Value);
    }

    [Fact]
    public void It_explains_both_ways_to_spread_streams()
    {
        Assert.Contains("dns:///sine-grpc-headless.", Deploy.Value);
        Assert.Contains("round_robin", Deploy.Value);
        Assert.Contains("backend-protocol: GRPC", Deploy.Value);
        Assert.Contains("kubernetes.io/h2c", Deploy.Value);
    }
}
