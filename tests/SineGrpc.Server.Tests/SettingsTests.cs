using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using SineGrpc.Engine;
using SineGrpc.Server.Hosting;

namespace SineGrpc.Server.Tests;

/// <summary>Settings bind strictly: a key the service does not know stops it, naming the key.</summary>
public sealed partial class SettingsTests
{
    [Theory]
    [InlineData("Engine:IntraOpThreads", "IntraOpThreads")]       // belongs under Engine:OnnxRuntime
    [InlineData("Engine:OnnxRuntime:IntraOpThread", "IntraOpThread")]
    [InlineData("Limits:MaxStreams", "MaxStreams")]
    [InlineData("Drain:GraceSeconds", "GraceSeconds")]
    public void An_unknown_setting_fails_with_its_name(string key, string property)
    {
        var error = Assert.ThrowsAny<InvalidOperationException>(() =>
        {
            using var app = ServerApp.Create([], new Dictionary<string, string?> { [key] = "4" });
            _ = app.Services.GetRequiredService<IOptions<EngineOptions>>().Value;
            _ = app.Services.GetRequiredService<IOptions<ServiceLimits>>().Value;
            _ = app.Services.GetRequiredService<IOptions<DrainOptions>>().Value;
        });
        Assert.Contains($"'{property}'", error.Message);
    }

    [Fact]
    public void Every_setting_of_the_kubernetes_config_map_binds()
    {
        // k8s/configmap.yaml holds environment variables (Section__Key); the chart's config
        // map is checked against it by the deployment tests.
        var path = Path.Combine(RepositoryRoot(), "k8s", "configmap.yaml");
        var settings = File.ReadLines(path)
            .Select(line => SettingLine().Match(line))
            .Where(match => match.Success)
            .ToDictionary(match => match.Groups["key"].Value.Replace("__", ":", StringComparison.Ordinal), match => (string?)match.Groups["value"].Value);
        Assert.Contains("Engine:OnnxRuntime:IntraOpThreads", settings.Keys);
        Assert.True(settings.Count >= 10, $"read only {settings.Count} settings from {path}");

        using var app = ServerApp.Create([], settings);
        var engine = app.Services.GetRequiredService<IOptions<EngineOptions>>().Value;
        var limits = app.Services.GetRequiredService<IOptions<ServiceLimits>>().Value;
        var drain = app.Services.GetRequiredService<IOptions<DrainOptions>>().Value;
        Assert.Equal(settings["Engine:Device"], engine.Device);
        Assert.Equal(settings["Limits:MaxConcurrentStreams"], limits.MaxConcurrentStreams.ToString());
        Assert.Equal(settings["Drain:GracePeriodSeconds"], drain.GracePeriodSeconds.ToString());
    }

    private static string RepositoryRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "SineGrpc.sln")))
                return folder.FullName;
        }
        throw new InvalidOperationException($"no SineGrpc.sln above {AppContext.BaseDirectory}");
    }

    // `  Section__Key: "value"   # comment` in the config map's data.
    [GeneratedRegex("^\\s+(?<key>[A-Za-z]+__[A-Za-z_]+):\\s*\"(?<value>[^\"]*)\"")]
    private static partial Regex SettingLine();
}
