using System.Text.RegularExpressions;
using Grpc.AspNetCore.Server;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using SineGrpc.Deploy.Tests.Support;
using SineGrpc.Engine;
using SineGrpc.Engine.Sessions;
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

    [Theory]
    [InlineData("Limits:MaxConcurrentStreams", "0", "MaxConcurrentStreams")]
    [InlineData("Limits:MaxConcurrentSegmentCalls", "-1", "MaxConcurrentSegmentCalls")]
    [InlineData("Limits:MaxMessageBytes", "10", "MaxMessageBytes")]
    [InlineData("Limits:StreamIdleTimeoutSeconds", "-1", "StreamIdleTimeoutSeconds")]
    [InlineData("Limits:StreamIdleTimeoutSeconds", "2592001", "StreamIdleTimeoutSeconds")]
    [InlineData("Limits:MaxMaskPixels", "8294399", "Limits:MaxMaskPixels (8294399) must be at least Limits:MaxFramePixels (8294400)")]
    [InlineData("Drain:GracePeriodSeconds", "-5", "GracePeriodSeconds")]
    [InlineData("Engine:MaxMemoryCapacity", "0", "MaxMemoryCapacity")]
    [InlineData("Engine:MaxPromptedFrames", "0", "MaxPromptedFrames")]
    [InlineData("Engine:OnnxRuntime:SessionsPerComponent", "0", "SessionsPerComponent")]
    [InlineData("Engine:OnnxRuntime:IntraOpThreads", "-3", "IntraOpThreads")]
    [InlineData("Engine:OnnxRuntime:Cuda:GpuMemoryLimitBytes", "-1", "GpuMemoryLimitBytes")]
    [InlineData("Engine:Batching:MaxBatchSize", "0", "MaxBatchSize")]
    [InlineData("Engine:Batching:QueueCapacity", "0", "QueueCapacity")]
    public void A_limit_out_of_its_range_fails_with_its_name(string key, string value, string property)
    {
        var error = Assert.Throws<OptionsValidationException>(() =>
        {
            using var app = ServerApp.Create([], new Dictionary<string, string?> { [key] = value });
            _ = app.Services.GetRequiredService<IOptions<EngineOptions>>().Value;
            _ = app.Services.GetRequiredService<IOptions<ServiceLimits>>().Value;
            _ = app.Services.GetRequiredService<IOptions<DrainOptions>>().Value;
        });
        Assert.Contains(property, error.Message);
    }

    [Theory]
    [InlineData(new string[0], new[] { "cuda", "cpu" })]
    [InlineData(new[] { "tensorrt", "cuda" }, new[] { "tensorrt", "cuda", "cpu" })]
    [InlineData(new[] { "tensorrt" }, new[] { "tensorrt", "cpu" })]
    public void A_configured_provider_order_replaces_the_default(string[] configured, string[] expected)
    {
        // Through the host's own binding: the binder appends a list to the one a property
        // starts with, which once kept CUDA in front of any configured order.
        var settings = configured.Select((provider, i) => KeyValuePair.Create<string, string?>($"Engine:OnnxRuntime:ExecutionProviders:{i}", provider));
        using var app = ServerApp.Create([], new Dictionary<string, string?>(settings));
        Assert.Equal(expected, app.Services.GetRequiredService<SessionFactory>().ProviderOrder());
    }

    [Fact]
    public void Limits_and_drain_reach_grpc_and_the_host()
    {
        using var app = ServerApp.Create([], new Dictionary<string, string?>
        {
            ["Limits:MaxMessageBytes"] = "12345678",
            ["Drain:GracePeriodSeconds"] = "45",
        });
        var grpc = app.Services.GetRequiredService<IOptions<GrpcServiceOptions>>().Value;
        Assert.Equal(12345678, grpc.MaxReceiveMessageSize);
        Assert.Equal(12345678, grpc.MaxSendMessageSize);
        // The drain runs inside shutdown: the host gives it the grace period and 10 s more.
        Assert.Equal(TimeSpan.FromSeconds(55), app.Services.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout);
    }

    [Fact]
    public void Every_setting_of_the_kubernetes_config_map_binds()
    {
        // k8s/configmap.yaml holds environment variables (Section__Key); the chart's config
        // map is checked against it by the deployment tests.
        var path = Repo.File("k8s", "configmap.yaml");
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
        var kestrel = app.Services.GetRequiredService<IOptions<KestrelServerOptions>>().Value;
        Assert.Equal(TimeSpan.Parse(settings["Kestrel:Limits:Http2:KeepAlivePingDelay"]!), kestrel.Limits.Http2.KeepAlivePingDelay);
    }

    [Fact]
    public void Kestrel_limits_bind_from_their_section()
    {
        using var app = ServerApp.Create([], new Dictionary<string, string?>
        {
            ["Kestrel:Limits:MaxConcurrentConnections"] = "50",
            ["Kestrel:Limits:Http2:MaxStreamsPerConnection"] = "20",
            ["Kestrel:Limits:Http2:KeepAlivePingTimeout"] = "00:00:07",
        });
        var limits = app.Services.GetRequiredService<IOptions<KestrelServerOptions>>().Value.Limits;
        Assert.Equal(50, limits.MaxConcurrentConnections);
        Assert.Equal(20, limits.Http2.MaxStreamsPerConnection);
        Assert.Equal(TimeSpan.FromSeconds(7), limits.Http2.KeepAlivePingTimeout);
        // Unset keys keep appsettings.json's values.
        Assert.Equal(TimeSpan.FromSeconds(30), limits.Http2.KeepAlivePingDelay);
    }

    // `  Section__Key: "value"   # comment` in the config map's data.
    [GeneratedRegex("^\\s+(?<key>[A-Za-z]+__[A-Za-z0-9_]+):\\s*\"(?<value>[^\"]*)\"")]
    private static partial Regex SettingLine();
}
