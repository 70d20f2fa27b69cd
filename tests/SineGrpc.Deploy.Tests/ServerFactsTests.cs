using System.Text.Json;
using System.Text.RegularExpressions;
using SineGrpc.Deploy.Tests.Support;

namespace SineGrpc.Deploy.Tests;

/// <summary>
/// What the chart, k8s/ and the deployment docs assume about the server, held against the
/// server's own sources: its Kestrel endpoints and scrape path, the metric names its
/// instruments export, its shutdown slack, and the gRPC methods the NOTES call. (That every
/// ConfigMap key binds to an options class is tested by the server's SettingsTests, which
/// start the server's configuration with k8s/configmap.yaml.)
/// </summary>
public partial class ServerFactsTests
{
    private static readonly Lazy<Dictionary<string, Instrument>> Exported = new(ExportedMetrics);

    [Fact]
    public void The_settings_name_the_kestrel_endpoints_of_appsettings_json()
    {
        // The ConfigMap sets only the URLs: each endpoint's protocol comes from appsettings.json,
        // so the names must be the ones declared there (Kestrel compares them case-insensitively).
        var endpoints = AppSettingsEndpoints();
        var rendered = Chart.Render();
        var grpcPort = Yaml.Str(Yaml.Named(rendered.Server["ports"], "grpc"), "containerPort");
        var metricsPort = Yaml.Str(Yaml.Named(rendered.Server["ports"], "metrics"), "containerPort");

        var named = rendered.Settings.Keys.Cast<string>()
            .Select(key => EndpointUrlKey().Match(key))
            .Where(match => match.Success)
            .ToDictionary(match => match.Groups["name"].Value, match => (string)rendered.Settings[match.Value]!);
        Assert.Equal(2, named.Count);
        foreach (var name in named.Keys)
            Assert.True(endpoints.ContainsKey(name), $"Kestrel__Endpoints__{name}__Url names no endpoint of appsettings.json ({string.Join(", ", endpoints.Keys)})");

        var grpc = named.Single(e => e.Value.EndsWith(":" + grpcPort, StringComparison.Ordinal)).Key;
        var metrics = named.Single(e => e.Value.EndsWith(":" + metricsPort, StringComparison.Ordinal)).Key;
        Assert.Equal("Http2", endpoints[grpc]);
        Assert.Equal("Http1", endpoints[metrics]);
        // MetricsEndpoint serves /metrics on the endpoint of this name only.
        Assert.Equal(Find(Source("src", "SineGrpc.Server", "Hosting", "MetricsEndpoint.cs"), @"EndpointName = ""(?<found>\w+)"""), metrics, ignoreCase: true);
    }

    [Fact]
    public void Scrapes_ask_for_the_path_the_server_maps()
    {
        var path = Find(Source("src", "SineGrpc.Server", "Hosting", "MetricsEndpoint.cs"), @"MapPrometheusScrapingEndpoint\(""(?<found>[^""]+)""\)");
        Assert.Equal("/metrics", path);

        Assert.Equal(path, Yaml.Str(Chart.Render().Deployment.Root, "spec", "template", "metadata", "annotations", "prometheus.io/path"));
        var plain = Yaml.ParseAll(File.ReadAllText(Repo.File("k8s", "deployment.yaml")), "k8s/deployment.yaml").Single();
        Assert.Equal(path, Yaml.Str(plain.Root, "spec", "template", "metadata", "annotations", "prometheus.io/path"));
        var monitor = Chart.Render("--set", "metrics.serviceMonitor.enabled=true").Single("ServiceMonitor");
        Assert.Equal(path, Yaml.Str(monitor.Root, "spec", "endpoints", 0, "path"));
    }

    [Fact]
    public void The_hpa_scales_on_a_gauge_the_service_exports()
    {
        // A Pods metric with an AverageValue target compares each pod's current value: it
        // must be an up-down counter or a gauge, not a counter that only grows.
        var name = Yaml.Str(Chart.Render().Single("HorizontalPodAutoscaler").Root, "spec", "metrics", 0, "pods", "metric", "name");
        Assert.True(Exported.Value.TryGetValue(name, out var instrument), $"the HPA's metric {name} is not among the exported ones: {string.Join(", ", Exported.Value.Keys)}");
        Assert.True(instrument.Kind is "UpDownCounter" or "ObservableUpDownCounter" or "Gauge" or "ObservableGauge",
            $"the HPA's metric {name} comes from a {instrument.Kind}: an AverageValue target needs a value per pod that goes up and down");
    }

    [Fact]
    public void Every_metric_the_deployment_files_name_is_exported_or_made_by_a_documented_adapter_rule()
    {
        var files = new[]
        {
            Repo.File("docs", "deploy.md"), Repo.File("k8s", "README.md"), Repo.File("k8s", "hpa.yaml"),
            Path.Combine(Repo.Chart, "values.yaml"), Path.Combine(Repo.Chart, "templates", "hpa.yaml"), Path.Combine(Repo.Chart, "templates", "NOTES.txt"),
        };
        var series = Exported.Value.Values.SelectMany(i => i.Series).ToHashSet(StringComparer.Ordinal);
        var deploy = File.ReadAllText(Repo.File("docs", "deploy.md"));
        // Names the documented Prometheus adapter rules give to what they compute (`as: "..."`).
        var adapterNames = AdapterRuleName().Matches(deploy).Select(m => m.Groups["name"].Value).ToHashSet(StringComparer.Ordinal);
        Assert.Contains("sine_streams_active", adapterNames);

        var checkedNames = 0;
        foreach (var file in files)
        {
            foreach (var name in MetricName().Matches(File.ReadAllText(file)).Select(m => m.Value).Distinct())
            {
                if (name == "sine_grpc") // the Envoy cluster in docs/deploy.md, not a metric
                    continue;
                checkedNames++;
                Assert.True(series.Contains(name) || adapterNames.Contains(name),
                    $"{Path.GetRelativePath(Repo.Root, file)} names {name}, which the service does not export (it exports {string.Join(", ", series.Order(StringComparer.Ordinal))})");
            }
        }
        Assert.True(checkedNames >= 10, $"found only {checkedNames} metric names to check");
    }

    [Fact]
    public void Termination_slack_exceeds_the_servers_own_shutdown_slack()
    {
        // ServerApp: HostOptions.ShutdownTimeout = Drain:GracePeriodSeconds + slack.
        var slack = int.Parse(Find(Source("src", "SineGrpc.Server", "Hosting", "ServerApp.cs"), @"GracePeriodSeconds \+ (?<found>\d+)\)"));

        var refused = Chart.Template("--set", $"drain.terminationExtraSeconds={slack}");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("drain.terminationExtraSeconds must exceed", refused.StdErr);
        Assert.Equal(0, Chart.Template("--set", $"drain.terminationExtraSeconds={slack + 1}").ExitCode);

        var plain = Yaml.ParseAll(File.ReadAllText(Repo.File("k8s", "deployment.yaml")), "k8s/deployment.yaml").Single();
        var pod = Yaml.Map(plain.Root, "spec", "template", "spec");
        var server = Yaml.Named(pod["containers"], "server");
        var settings = Yaml.Map(Yaml.ParseAll(File.ReadAllText(Repo.File("k8s", "configmap.yaml")), "k8s/configmap.yaml").Single().Root, "data");
        var preStop = int.Parse(Yaml.Str(server, "lifecycle", "preStop", "exec", "command", 1));
        var grace = int.Parse((string)settings["Drain__GracePeriodSeconds"]!);
        Assert.True(Yaml.Int(pod, "terminationGracePeriodSeconds") > preStop + grace + slack,
            $"terminationGracePeriodSeconds must exceed preStop {preStop} + drain {grace} + the server's own {slack} s");
    }

    [Fact]
    public void The_notes_call_methods_the_api_defines_with_fields_it_has()
    {
        var proto = File.ReadAllText(Repo.File("protos", "sine", "v1", "sine.proto"));
        var package = Regex.Match(proto, @"^package (?<name>[\w.]+);", RegexOptions.Multiline).Groups["name"].Value;
        var service = Regex.Match(proto, @"^service (?<name>\w+) \{", RegexOptions.Multiline).Groups["name"].Value;
        Assert.Equal("sine.v1.Segmentation", $"{package}.{service}");
        var requests = Regex.Matches(proto, @"rpc (?<method>\w+)\((stream )?(?<request>\w+)\)")
            .ToDictionary(m => m.Groups["method"].Value, m => m.Groups["request"].Value);
        var embeddedModel = Find(Source("src", "SineGrpc.Engine", "Models", "Embedded", "EmbeddedModel.cs"), @"const string Name = ""(?<found>[^""]+)""");

        var calls = Chart.RenderNotes().Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("grpcurl ", StringComparison.Ordinal)).ToList();
        Assert.True(calls.Count >= 3, "the notes show grpcurl calls");
        foreach (var call in calls)
        {
            var method = call.Split(' ').Last();
            if (method == "list")
                continue;
            var (target, name) = (method[..method.IndexOf('/')], method[(method.IndexOf('/') + 1)..]);
            if (target == "grpc.health.v1.Health")
            {
                Assert.Contains(name, (string[])["Check", "Watch"]);
                continue;
            }
            Assert.Equal($"{package}.{service}", target);
            Assert.True(requests.ContainsKey(name), $"{call}: {target} has no method {name}");

            var body = Regex.Match(call, @"-d '(?<json>[^']*)'");
            if (!body.Success)
                continue;
            var fields = MessageFields(proto, requests[name]);
            foreach (var property in JsonDocument.Parse(body.Groups["json"].Value).RootElement.EnumerateObject())
            {
                Assert.True(fields.Contains(property.Name), $"{call}: {requests[name]} has no field {property.Name}");
                if (property.Name == "model")
                    Assert.Equal(embeddedModel, property.Value.GetString());
            }
        }
    }

    /// <summary>appsettings.json's Kestrel endpoints: name to protocols.</summary>
    private static Dictionary<string, string> AppSettingsEndpoints()
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Repo.File("src", "SineGrpc.Server", "appsettings.json")));
        return json.RootElement.GetProperty("Kestrel").GetProperty("Endpoints").EnumerateObject()
            .ToDictionary(e => e.Name, e => e.Value.GetProperty("Protocols").GetString()!, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>The field names of a proto message, as written and in their JSON (lowerCamel) form.</summary>
    private static HashSet<string> MessageFields(string proto, string message)
    {
        var start = proto.IndexOf($"message {message} {{", StringComparison.Ordinal);
        Assert.True(start >= 0, $"no message {message} in the proto");
        var depth = 0;
        var end = start;
        for (; end < proto.Length; end++)
        {
            if (proto[end] == '{')
                depth++;
            else if (proto[end] == '}' && --depth == 0)
                break;
        }
        var fields = new HashSet<string>(StringComparer.Ordinal);
        foreach (Match field in Regex.Matches(proto[start..end], @"^\s*(repeated |optional )?[\w.]+ (?<name>\w+) = \d+;", RegexOptions.Multiline))
        {
            var name = field.Groups["name"].Value;
            fields.Add(name);
            fields.Add(Regex.Replace(name, "_([a-z0-9])", m => m.Groups[1].Value.ToUpperInvariant()));
        }
        return fields;
    }

    /// <summary>
    /// The Prometheus names of the service's instruments (System.Diagnostics.Metrics
    /// "sine.*" in src/), as OpenTelemetry's Prometheus exporter writes them: dots become
    /// underscores, a unit other than a {annotation} is appended (s as seconds), counters
    /// end in _total and histograms are series _bucket, _sum and _count.
    /// </summary>
    private static Dictionary<string, Instrument> ExportedMetrics()
    {
        var exported = new Dictionary<string, Instrument>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(Repo.File("src"), "*.cs", SearchOption.AllDirectories))
        {
            if (file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
                continue;
            foreach (Match match in InstrumentCreation().Matches(File.ReadAllText(file)))
            {
                var kind = match.Groups["kind"].Value;
                var unit = Regex.Replace(match.Groups["unit"].Value, @"\{[^}]*\}", "");
                var name = match.Groups["name"].Value.Replace('.', '_');
                if (unit.Length > 0)
                {
                    var suffix = unit switch { "s" => "seconds", "ms" => "milliseconds", "By" => "bytes", _ => unit };
                    if (!name.EndsWith("_" + suffix, StringComparison.Ordinal))
                        name += "_" + suffix;
                }
                if (kind is "Counter" or "ObservableCounter")
                    name += "_total";
                string[] series = kind == "Histogram" ? [name, name + "_bucket", name + "_sum", name + "_count"] : [name];
                exported[name] = new Instrument(kind, series);
            }
        }
        Assert.True(exported.Count >= 5, $"found only {exported.Count} instruments in src/");
        return exported;
    }

    private static string Source(params string[] parts) => File.ReadAllText(Repo.File(parts));

    /// <summary>The group "found" of the first match of a pattern; fails the test without one.</summary>
    private static string Find(string text, string pattern)
    {
        var match = Regex.Match(text, pattern);
        Assert.True(match.Success, $"the source has nothing like {pattern}: it changed, so check what this test assumed");
        return match.Groups["found"].Value;
    }

    private sealed record Instrument(string Kind, string[] Series);

    // meter.CreateCounter<long>("sine.frames", "{frame}", ...), meter.CreateObservableGauge("sine.x", () => ...)
    [GeneratedRegex(@"Create(?<kind>Counter|UpDownCounter|Histogram|Gauge|ObservableCounter|ObservableUpDownCounter|ObservableGauge)(<\w+>)?\(\s*""(?<name>sine\.[\w.]+)""(\s*,\s*(unit:\s*)?""(?<unit>[^""]*)"")?")]
    private static partial Regex InstrumentCreation();

    [GeneratedRegex(@"\bsine_[a-z0-9_]+\b")]
    private static partial Regex MetricName();

    [GeneratedRegex(@"^\s*as: ""(?<name>sine_[a-z0-9_]+)""", RegexOptions.Multiline)]
    private static partial Regex AdapterRuleName();

    [GeneratedRegex(@"^Kestrel__Endpoints__(?<name>\w+?)__Url$")]
    private static partial Regex EndpointUrlKey();
}
