using Grpc.Health.V1;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Sine.V1;
using SineGrpc.Engine.Models;
using SineGrpc.Server.Hosting;
using SineGrpc.Engine.Tests.TestModels;

namespace SineGrpc.Server.Tests;

/// <summary>
/// The real server, started in-process on a loopback port with small limits, serving
/// the embedded model (built into a temporary cache) and a tiny tokens-kind bundle.
/// </summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public const int StreamLimit = 3;
    public const long PixelLimit = 1_000_000;
    public const int SegmentQueueLimit = 2;
    public const string TokenModel = TokenTestBundle.Name;
    private readonly string _root = Directory.CreateTempSubdirectory("sine-server-tests-").FullName;
    private WebApplication? _app;

    /// <summary>A free loopback port for the Prometheus endpoint (it must be known before start).</summary>
    public int MetricsPort { get; } = FreePort();

    /// <summary>The gRPC endpoint, for tests that need a connection of their own.</summary>
    public string Address { get; private set; } = null!;
    public GrpcChannel Channel { get; private set; } = null!;
    public Segmentation.SegmentationClient Client { get; private set; } = null!;
    public ModelCatalog Catalog => _app!.Services.GetRequiredService<ModelCatalog>();
    public StreamSlots Slots => _app!.Services.GetRequiredService<StreamSlots>();
    public IServiceProvider Services => _app!.Services;

    public async Task InitializeAsync()
    {
        var models = Path.Combine(_root, "models");
        TokenTestBundle.Build(Path.Combine(models, TokenModel));
        _app = ServerApp.Create([], new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:Grpc:Url"] = "http://127.0.0.1:0",
            ["Kestrel:Endpoints:Grpc:Protocols"] = "Http2",
            ["Kestrel:Endpoints:Metrics:Url"] = $"http://127.0.0.1:{MetricsPort}",
            ["Kestrel:Endpoints:Metrics:Protocols"] = "Http1",
            ["Engine:ModelsPath"] = models,
            ["Engine:EmbeddedModelCache"] = Path.Combine(_root, "cache"),
            ["Engine:Device"] = "cpu",
            ["Limits:MaxConcurrentStreams"] = StreamLimit.ToString(),
            ["Limits:MaxFramePixels"] = PixelLimit.ToString(),
            ["Limits:MaxObjectsPerStream"] = "8",
            ["Limits:MaxQueuedSegmentCalls"] = SegmentQueueLimit.ToString(),
        });
        await _app.StartAsync();
        Address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses
            .Single(a => !a.EndsWith($":{MetricsPort}", StringComparison.Ordinal));
        Channel = GrpcChannel.ForAddress(Address);
        Client = new Segmentation.SegmentationClient(Channel);
        await WaitUntilServing();
    }

    internal static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    private async Task WaitUntilServing()
    {
        var health = new Health.HealthClient(Channel);
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (DateTime.UtcNow < deadline)
        {
            var reply = await health.CheckAsync(new HealthCheckRequest());
            if (reply.Status == HealthCheckResponse.Types.ServingStatus.Serving)
                return;
            await Task.Delay(200);
        }
        throw new TimeoutException("the server did not report SERVING within 3 minutes");
    }

    public async Task DisposeAsync()
    {
        Channel.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>
{
    public const string Name = "server";
}
