using SineGrpc.Deploy.Tests.Support;

namespace SineGrpc.Deploy.Tests;

/// <summary>yamllint --strict (the repository's .yamllint) over k8s/, the chart's values and what the chart renders.</summary>
public class YamlLintTests
{
    [Fact]
    public void Hand_written_yaml_is_clean()
    {
        Lint(Repo.K8s, Path.Combine(Repo.Chart, "values.yaml"), Path.Combine(Repo.Chart, "Chart.yaml"), Path.Combine(Repo.Chart, "ci"), Repo.File(".yamllint"));
    }

    [Theory]
    [InlineData("default")]
    [InlineData("gpu-off")]
    [InlineData("everything-on")]
    public void Rendered_yaml_is_clean(string set)
    {
        var rendered = set switch
        {
            "gpu-off" => Chart.RenderCpu(),
            "everything-on" => Chart.Render(
                "--set", "metrics.serviceMonitor.enabled=true", "--set", "ingress.enabled=true", "--set", "ingress.tls.secretName=sine-tls",
                "--set", "models.source=initContainer", "--set", "models.initContainer.image=registry.example/models:1",
                "--set", "gpu.runtimeClassName=nvidia", "--set", "autoscaling.enabled=false", "--set", "env[0].name=A", "--set", "env[0].value=b"),
            _ => Chart.Render(),
        };
        var file = Path.Combine(Path.GetTempPath(), $"sine-grpc-render-{set}-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, rendered.Text);
        try
        {
            Lint(file);
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static void Lint(params string[] paths)
    {
        var result = Tool.Run(Tool.YamlLint, ["--strict", "--format", "parsable", "--config-file", Repo.File(".yamllint"), .. paths]);
        Assert.True(result.ExitCode == 0, result.Describe("yamllint --strict"));
    }
}
