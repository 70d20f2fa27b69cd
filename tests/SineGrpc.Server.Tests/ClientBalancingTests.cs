using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Net.Client.Balancer;
using Grpc.Net.Client.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Sine.V1;
using SineGrpc.Server.Hosting;

namespace SineGrpc.Server.Tests;

/// <summary>
/// Client-side balancing over two servers as docs/deploy.md configures it for C# clients
/// (round robin, and a retry policy for UNAVAILABLE), while one of them drains.
/// </summary>
public sealed class ClientBalancingTests : IAsyncLifetime
{
    private const int Calls = 10;
    private OwnServer _draining = null!;
    private OwnServer _serving = null!;

    public async Task InitializeAsync()
    {
        var settings = new Dictionary<string, string?> { ["Drain:GracePeriodSeconds"] = "60" };
        _draining = await OwnServer.StartAsync("balancing-draining", settings);
        _serving = await OwnServer.StartAsync("balancing-serving", settings);
    }

    [Fact]
    public async Task New_streams_a_draining_server_refuses_are_retried_on_the_other()
    {
        using var video = new SyntheticVideo();
        var (frame, truth) = video.Render(0);
        var jpeg = SyntheticVideo.Jpeg(frame);
        var prompt = TrackClient.TruthPrompt(truth, 1);
        frame.Dispose();
        TrackRequest[] stream = [TrackClient.Start(ServerFixture.TokenModel), TrackClient.Frame(0, jpeg, prompt)];

        // An open stream keeps the draining server in its grace period, listening but
        // refusing new streams.
        using var held = new Segmentation.SegmentationClient(_draining.Channel).Track();
        foreach (var request in stream)
            await held.RequestStream.WriteAsync(request);
        Assert.True(await held.ResponseStream.MoveNext(CancellationToken.None));
        var stopping = Task.Run(() => _draining.App.StopAsync());
        var drain = _draining.App.Services.GetRequiredService<DrainCoordinator>();
        for (var i = 0; i < 100 && !drain.IsDraining; i++)
            await Task.Delay(50);
        Assert.True(drain.IsDraining);

        try
        {
            using var roundRobin = Balanced(retry: false);
            using var retrying = Balanced(retry: true);
            var refused = await CountRefusedAsync(roundRobin, stream);
            var refusedWithRetries = await CountRefusedAsync(retrying, stream);

            // Round robin alone keeps picking the draining server (its connection is open).
            Assert.True(refused > 0, $"round robin sent none of {Calls} streams to the draining server");
            Assert.Equal(0, refusedWithRetries);
        }
        finally
        {
            await held.RequestStream.CompleteAsync();
            while (await held.ResponseStream.MoveNext(CancellationToken.None)) { }
            await stopping;
        }
    }

    private static async Task<int> CountRefusedAsync(GrpcChannel channel, TrackRequest[] stream)
    {
        var client = new Segmentation.SegmentationClient(channel);
        var refused = 0;
        for (var i = 0; i < Calls; i++)
        {
            try
            {
                var reply = Assert.Single(await TrackClient.RunAsync(client, stream));
                Assert.Null(reply.Error);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
            {
                Assert.Contains("retry", e.Status.Detail);
                refused++;
            }
        }
        return refused;
    }

    // As in docs/deploy.md, with the two servers' addresses for the headless Service's DNS.
    private GrpcChannel Balanced(bool retry)
    {
        BalancerAddress[] addresses = [.. new[] { _draining.Address, _serving.Address }.Select(a => new BalancerAddress(a.Host, a.Port))];
        var services = new ServiceCollection();
        services.AddSingleton<ResolverFactory>(new StaticResolverFactory(_ => addresses));
        var config = new ServiceConfig { LoadBalancingConfigs = { new RoundRobinConfig() } };
        if (retry)
            config.MethodConfigs.Add(DeployDocRetry());
        return GrpcChannel.ForAddress("static:///sine-grpc", new GrpcChannelOptions
        {
            Credentials = ChannelCredentials.Insecure,
            ServiceConfig = config,
            ServiceProvider = services.BuildServiceProvider(),
        });
    }

    private static MethodConfig DeployDocRetry() => new()
    {
        Names = { MethodName.Default },
        RetryPolicy = new RetryPolicy
        {
            MaxAttempts = 3,
            InitialBackoff = TimeSpan.FromMilliseconds(200),
            MaxBackoff = TimeSpan.FromSeconds(2),
            BackoffMultiplier = 2,
            RetryableStatusCodes = { StatusCode.Unavailable },
        },
    };

    public async Task DisposeAsync()
    {
        await _serving.DisposeAsync();
        await _draining.DisposeAsync();
    }
}
