using SineGrpc.Deploy.Tests.Support;

namespace SineGrpc.Deploy.Tests;

/// <summary>
/// k8s/ (plain manifests) and the chart with its default values (release "sine-grpc")
/// describe the same deployment: same objects, ports, probes, selectors, settings, GPU
/// scheduling, drain timing, autoscaling and disruption budget. Only Helm's own labels
/// and the config checksum annotation differ.
/// </summary>
public class K8sManifestTests
{
    private static readonly string[] HelmOnlyLabels = ["app.kubernetes.io/managed-by", "helm.sh/chart"];

    private static readonly Lazy<List<Manifest>> Plain = new(() =>
        Directory.EnumerateFiles(Repo.K8s, "*.yaml").Order(StringComparer.Ordinal)
            .SelectMany(file => Yaml.ParseAll(File.ReadAllText(file), Path.GetRelativePath(Repo.Root, file)))
            .ToList());

    private static Manifest PlainOne(string kind, string name) =>
        Plain.Value.SingleOrDefault(m => m.Kind == kind && m.Name == name) ?? throw new KeyNotFoundException($"k8s/ has no {kind}/{name}");

    public static TheoryData<string, string> ChartObjects()
    {
        var data = new TheoryData<string, string>();
        foreach (var manifest in Chart.Render().Manifests)
            data.Add(manifest.Kind, manifest.Name);
        return data;
    }

    [Fact]
    public void The_same_objects_exist_in_both()
    {
        static IEnumerable<string> Keys(IEnumerable<Manifest> manifests) => manifests.Select(m => $"{m.Kind}/{m.Name}").Order(StringComparer.Ordinal);
        Assert.Equal(Keys(Chart.Render().Manifests), Keys(Plain.Value));
    }

    [Theory]
    [MemberData(nameof(ChartObjects))]
    public void Labels_and_api_versions_agree(string kind, string name)
    {
        var chart = Chart.Render().Single(kind, name);
        var plain = PlainOne(kind, name);
        Assert.Equal(chart.ApiVersion, plain.ApiVersion);
        Assert.Equal(Yaml.Canon(Yaml.Without(chart.Labels, HelmOnlyLabels)), Yaml.Canon(plain.Labels));
        Assert.Null(plain.At("metadata", "namespace")); // applied with kubectl -n
    }

    [Theory]
    [InlineData("ConfigMap", "sine-grpc", "data")]
    [InlineData("Service", "sine-grpc", "spec")]
    [InlineData("Service", "sine-grpc-headless", "spec")]
    [InlineData("HorizontalPodAutoscaler", "sine-grpc", "spec")]
    [InlineData("PodDisruptionBudget", "sine-grpc", "spec")]
    [InlineData("ServiceAccount", "sine-grpc", "automountServiceAccountToken")]
    public void Settings_services_autoscaling_and_budget_are_identical(string kind, string name, string part)
    {
        Assert.Equal(Yaml.Canon(Chart.Render().Single(kind, name).At(part)), Yaml.Canon(PlainOne(kind, name).At(part)));
    }

    [Fact]
    public void The_pod_spec_is_identical()
    {
        var chart = Chart.Render().Deployment;
        var plain = PlainOne("Deployment", "sine-grpc");
        // Ports, probes, env, resources (the GPU), node selector, tolerations, security,
        // volumes, preStop and terminationGracePeriodSeconds: the whole pod spec.
        Assert.Equal(Yaml.Canon(chart.At("spec", "template", "spec")), Yaml.Canon(plain.At("spec", "template", "spec")));
        Assert.Equal(Yaml.Canon(Yaml.Without(Yaml.Map(chart.Root, "spec"), "template")), Yaml.Canon(Yaml.Without(Yaml.Map(plain.Root, "spec"), "template")));
        Assert.Equal(
            Yaml.Canon(Yaml.Without(Yaml.Map(chart.Root, "spec", "template", "metadata", "labels"), HelmOnlyLabels)),
            Yaml.Canon(Yaml.Map(plain.Root, "spec", "template", "metadata", "labels")));
        Assert.Equal(
            Yaml.Canon(Yaml.Without(Yaml.Map(chart.Root, "spec", "template", "metadata", "annotations"), "checksum/config")),
            Yaml.Canon(Yaml.Map(plain.Root, "spec", "template", "metadata", "annotations")));
    }

    [Fact]
    public void The_readme_shows_the_commands_of_the_charts_notes()
    {
        // k8s/ is the chart's default render for release sine-grpc in namespace sine, so the
        // port-forward and grpcurl commands that reach it are the ones the NOTES print.
        var readme = File.ReadAllLines(Repo.File("k8s", "README.md")).Select(l => l.Trim()).ToHashSet(StringComparer.Ordinal);
        var commands = Chart.RenderNotes().Split('\n').Select(l => l.Trim())
            .Where(l => l.StartsWith($"kubectl -n {Chart.Namespace} port-forward ", StringComparison.Ordinal)
                || l.StartsWith("grpcurl -plaintext ", StringComparison.Ordinal)
                || l.StartsWith("curl ", StringComparison.Ordinal))
            .ToList();
        Assert.True(commands.Count >= 5, $"found only {commands.Count} commands in the notes");
        foreach (var command in commands)
            Assert.Contains(command, readme);
    }

    [Fact]
    public void The_readmes_cpu_variant_sets_what_the_charts_cpu_values_change()
    {
        var readme = File.ReadAllText(Repo.File("k8s", "README.md"));
        var gpu = Chart.Render();
        var cpu = Chart.RenderCpu();

        var changed = cpu.Settings.Where(setting => !Equals(gpu.Settings[setting.Key], setting.Value)).ToList();
        Assert.NotEmpty(changed);
        foreach (var (key, value) in changed)
            Assert.Contains($"`{key}: \"{value}\"`", readme);
        var target = Yaml.Str(cpu.Single("HorizontalPodAutoscaler").Root, "spec", "metrics", 0, "pods", "target", "averageValue");
        Assert.Contains($"`averageValue: \"{target}\"`", readme);
        Assert.Contains($"`cpu: \"{Yaml.Str(cpu.Server, "resources", "limits", "cpu")}\"`", readme);
    }

    [Fact]
    public void The_plain_manifests_hold_the_invariants_on_their_own()
    {
        var deployment = PlainOne("Deployment", "sine-grpc");
        var pod = Yaml.Map(deployment.Root, "spec", "template", "spec");
        var server = Yaml.Named(pod["containers"], "server");
        var settings = Yaml.Map(PlainOne("ConfigMap", "sine-grpc").Root, "data");

        Assert.Equal("1", Yaml.Str(server, "resources", "limits", "nvidia.com/gpu"));
        Assert.Equal("cuda", settings["Engine__Device"]);

        var grpcPort = Yaml.Str(Yaml.Named(server["ports"], "grpc"), "containerPort");
        var metricsPort = Yaml.Str(Yaml.Named(server["ports"], "metrics"), "containerPort");
        Assert.EndsWith(":" + grpcPort, (string)settings["Kestrel__Endpoints__Grpc__Url"]!);
        Assert.EndsWith(":" + metricsPort, (string)settings["Kestrel__Endpoints__Metrics__Url"]!);
        foreach (var probe in new[] { "startupProbe", "readinessProbe", "livenessProbe" })
            Assert.Equal(grpcPort, Yaml.Str(server, probe, "grpc", "port"));

        var grace = int.Parse((string)settings["Drain__GracePeriodSeconds"]!);
        var preStop = int.Parse(Yaml.Str(server, "lifecycle", "preStop", "exec", "command", 1));
        // The server's own shutdown timeout is grace + 10 s: leave room beyond it.
        Assert.True(Yaml.Int(pod, "terminationGracePeriodSeconds") > preStop + grace + 10);
        Assert.True(Yaml.Int(server, "livenessProbe", "periodSeconds") * Yaml.Int(server, "livenessProbe", "failureThreshold") > grace);

        var hpaTarget = int.Parse(Yaml.Str(PlainOne("HorizontalPodAutoscaler", "sine-grpc").Root, "spec", "metrics", 0, "pods", "target", "averageValue"));
        Assert.True(hpaTarget < int.Parse((string)settings["Limits__MaxConcurrentStreams"]!));
        Assert.False(Yaml.Map(deployment.Root, "spec").ContainsKey("replicas"), "the HPA owns the replica count");
    }
}
