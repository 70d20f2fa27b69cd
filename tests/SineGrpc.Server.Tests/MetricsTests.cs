using Sine.V1;

namespace SineGrpc.Server.Tests;

[Collection(MetricsCollection.Name)]
public sealed class MetricsTests : IAsyncLifetime
{
    private OwnServer _server = null!;

    public async Task InitializeAsync() => _server = await OwnServer.StartAsync("metrics", new Dictionary<string, string?>());

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Prometheus_endpoint_exports_the_service_metrics_in_prometheus_conventions()
    {
        using var video = new SyntheticVideo();
        var (frame, truth) = video.Render(0);
        using (frame)
        {
            // A stream with a bad frame (an error), then one that resumes it (a resumed stream).
            var client = new Segmentation.SegmentationClient(_server.Channel);
            var start = TrackClient.Start(ServerFixture.TokenModel);
            start.Start.ReturnState = true;
            var replies = await TrackClient.RunAsync(client,
            [
                start,
                TrackClient.Frame(0, SyntheticVideo.Jpeg(frame), TrackClient.TruthPrompt(truth, 1)),
                TrackClient.Frame(1, [1, 2, 3]),
            ]);
            var resume = TrackClient.Start(ServerFixture.TokenModel);
            resume.Start.ResumeState = replies[0].State;
            await TrackClient.RunAsync(client, [resume, TrackClient.Frame(2, SyntheticVideo.Jpeg(frame))]);
        }

        using var http = new HttpClient();
        var text = await http.GetStringAsync($"http://127.0.0.1:{_server.MetricsPort}/metrics");

        Assert.Contains("sine_frames_total", text);
        Assert.Contains("sine_streams_total", text);
        Assert.Contains("sine_streams_active", text);
        Assert.Matches("(?m)^sine_streams_resumed_total(\\{[^}]*\\})? 1( |$)", text);
        Assert.Contains("sine_stage_duration_seconds_bucket", text);
        Assert.Contains("stage=\"encoder\"", text);
        Assert.Contains("sine_errors_total{", text);
        Assert.Contains("status=\"INVALID_ARGUMENT\"", text);
        Assert.Contains("sine_inference_duration_seconds_bucket", text);
        Assert.Matches("sine_inference_duration_seconds_count\\{[^}]*component=\"encoder\"[^}]*model=\"" + ServerFixture.TokenModel + "\"", text);
        Assert.Contains("sine_queue_duration_seconds_bucket", text);
        Assert.Contains("sine_execution_provider_info", text);
    }
}
