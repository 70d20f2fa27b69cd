using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Sine.V1;
using SineGrpc.Engine.Models;
using SineGrpc.Server.Hosting;
using SineGrpc.Engine.Tests.TestModels;

namespace SineGrpc.Server.Tests;

/// <summary>
/// The real server shared by the "server" collection (an <see cref="OwnServer"/>), with small
/// limits, serving the embedded model as well as the tiny tokens-kind bundle.
/// </summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public const int StreamLimit = 3;
    public const long PixelLimit = 1_000_000;
    /// <summary>Two full-size masks of the largest frame allowed.</summary>
    public const long MaskPixelLimit = 2 * PixelLimit;
    public const int SegmentQueueLimit = 2;
    public const int PromptedFrameLimit = 3;
    public const string TokenModel = TokenTestBundle.Name;
    private OwnServer _server = null!;

    public int MetricsPort => _server.MetricsPort;

    /// <summary>What a health Watch opened before the models were ready has heard.</summary>
    public IReadOnlyList<(Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus Status, DateTime At)> WatchedHealth => _server.WatchedHealth;

    /// <summary>When a health Check first answered SERVING.</summary>
    public DateTime ServingSince => _server.ServingSince;

    /// <summary>The gRPC endpoint, for tests that need a connection of their own.</summary>
    public string Address => _server.Address.ToString();
    public GrpcChannel Channel => _server.Channel;
    public Segmentation.SegmentationClient Client { get; private set; } = null!;
    public IServiceProvider Services => _server.App.Services;
    public ModelCatalog Catalog => Services.GetRequiredService<ModelCatalog>();
    public StreamSlots Slots => Services.GetRequiredService<StreamSlots>();

    public async Task InitializeAsync()
    {
        _server = await OwnServer.StartAsync("server-tests", new Dictionary<string, string?>
        {
            ["Engine:EnableEmbeddedModel"] = "true",
            ["Limits:MaxConcurrentStreams"] = StreamLimit.ToString(),
            ["Limits:MaxFramePixels"] = PixelLimit.ToString(),
            ["Limits:MaxMaskPixels"] = MaskPixelLimit.ToString(),
            ["Limits:MaxObjectsPerStream"] = "8",
            ["Engine:MaxPromptedFrames"] = PromptedFrameLimit.ToString(),
            ["Limits:MaxQueuedSegmentCalls"] = SegmentQueueLimit.ToString(),
        }, watchHealth: true);
        Client = new Segmentation.SegmentationClient(Channel);
    }

    public async Task DisposeAsync()
    {
        // Null when the server failed to start (InitializeAsync has reported why).
        if (_server is not null)
            await _server.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>
{
    public const string Name = "server";
}
