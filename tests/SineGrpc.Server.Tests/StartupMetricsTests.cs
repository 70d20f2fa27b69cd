using System.Text.RegularExpressions;

namespace SineGrpc.Server.Tests;

/// <summary>
/// What a pod exports before its first stream: the autoscaler's per-pod metric must be
/// there at 0, or the HPA finds the pod missing its metric and cannot scale on it.
/// </summary>
[Collection(MetricsCollection.Name)]
public sealed class StartupMetricsTests : IAsyncLifetime
{
    private OwnServer _server = null!;

    public async Task InitializeAsync() => _server = await OwnServer.StartAsync("startup-metrics", new Dictionary<string, string?>());

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Active_streams_are_exported_at_zero_before_any_stream()
    {
        using var http = new HttpClient();
        var text = await http.GetStringAsync($"http://127.0.0.1:{_server.MetricsPort}/metrics");

        Assert.Matches(new Regex(@"^sine_streams_active(\{[^}]*\})? 0( \d+)?$", RegexOptions.Multiline), text);
    }
}
