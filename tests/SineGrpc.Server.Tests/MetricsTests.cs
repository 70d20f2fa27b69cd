namespace SineGrpc.Server.Tests;

[Collection(ServerCollection.Name)]
public sealed class MetricsTests(ServerFixture server)
{
    [Fact]
    public async Task Prometheus_endpoint_exports_the_service_metrics_in_prometheus_conventions()
    {
        using var video = new SyntheticVideo();
        var (frame, truth) = video.Render(0);
        using (frame)
        {
            await TrackClient.RunAsync(server.Client,
            [
                TrackClient.Start(),
                TrackClient.Frame(0, SyntheticVideo.Jpeg(frame), TrackClient.TruthPrompt(truth, 1)),
                TrackClient.Frame(1, [1, 2, 3]),
            ]);
        }

        using var http = new HttpClient();
        var text = await http.GetStringAsync($"http://127.0.0.1:{server.MetricsPort}/metrics");

        Assert.Contains("sine_frames_total", text);
        Assert.Contains("sine_streams_total", text);
        Assert.Contains("sine_streams_active", text);
        Assert.Contains("sine_stage_duration_seconds_bucket", text);
        Assert.Contains("stage=\"encoder\"", text);
        Assert.Contains("sine_errors_total{", text);
        Assert.Contains("status=\"INVALID_ARGUMENT\"", text);
        Assert.Contains("sine_inference_duration_seconds_bucket", text);
        Assert.Matches("sine_inference_duration_seconds_count\\{[^}]*component=\"encoder\"[^}]*model=\"resnet18-lp\"", text);
        Assert.Contains("sine_queue_duration_seconds_bucket", text);
        Assert.Contains("sine_execution_provider_info", text);
    }
}
