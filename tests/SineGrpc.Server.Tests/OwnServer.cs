using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SineGrpc.Engine.Tests.TestModels;
using SineGrpc.Server.Hosting;

namespace SineGrpc.Server.Tests;

/// <summary>
/// The real server, started in-process on a loopback port, serving the tiny tokens-kind
/// model (and the embedded one when the settings enable it, built into a temporary cache).
/// The shared <see cref="ServerFixture"/> is one; test classes start their own for settings
/// the shared one must not have or to stop it. Those serve only the tokens-kind model by
/// default, whose frames take milliseconds: such tests are about timing, which a frame of
/// the embedded model (a second or more on a busy CPU) would eat into.
/// </summary>
internal sealed class OwnServer : IAsyncDisposable
{
    private readonly string _root;
    private readonly CancellationTokenSource _stopWatching = new();
    private readonly List<(HealthCheckResponse.Types.ServingStatus Status, DateTime At)> _watchedHealth = [];
    private Task _watching = Task.CompletedTask;

    private OwnServer(string root, WebApplication app, Uri address, int metricsPort)
    {
        _root = root;
        App = app;
        Address = address;
        MetricsPort = metricsPort;
        Channel = GrpcChannel.ForAddress(address);
    }

    public WebApplication App { get; }
    public Uri Address { get; }
    public GrpcChannel Channel { get; }

    /// <summary>The Prometheus endpoint's loopback port.</summary>
    public int MetricsPort { get; }

    /// <summary>When a health Check first answered SERVING (polled every 200 ms).</summary>
    public DateTime ServingSince { get; private set; }

    /// <summary>
    /// What a grpc.health.v1 Watch opened as soon as the server listened has heard so far
    /// (only when started with watchHealth).
    /// </summary>
    public IReadOnlyList<(HealthCheckResponse.Types.ServingStatus Status, DateTime At)> WatchedHealth
    {
        get { lock (_watchedHealth) return [.. _watchedHealth]; }
    }

    /// <param name="watchHealth">
    /// Open a health Watch before the models are ready and keep it open until disposal or
    /// shutdown, which ends it with NOT_SERVING (<see cref="WatchedHealth"/>).
    /// </param>
    public static async Task<OwnServer> StartAsync(string name, IDictionary<string, string?> settings, bool watchHealth = false)
    {
        var root = Directory.CreateTempSubdirectory($"sine-{name}-").FullName;
        var models = Path.Combine(root, "models");
        TokenTestBundle.Build(Path.Combine(models, ServerFixture.TokenModel));
        var metricsPort = FreePort();
        var configuration = new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:Grpc:Url"] = "http://127.0.0.1:0",
            ["Kestrel:Endpoints:Metrics:Url"] = $"http://127.0.0.1:{metricsPort}",
            ["Engine:ModelsPath"] = models,
            ["Engine:EnableEmbeddedModel"] = "false",
            ["Engine:EmbeddedModelCache"] = Path.Combine(root, "cache"),
            ["Engine:Device"] = "cpu",
        };
        foreach (var (key, value) in settings)
            configuration[key] = value;
        var app = ServerApp.Create([], configuration);
        await app.StartAsync();
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses
            .Single(a => !a.EndsWith($":{metricsPort}", StringComparison.Ordinal)));
        var server = new OwnServer(root, app, address, metricsPort);
        if (watchHealth)
            server._watching = server.WatchHealthAsync();
        try
        {
            await server.WaitUntilServingAsync();
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
        return server;
    }

    /// <summary>A free loopback port (the Prometheus endpoint's must be known before start).</summary>
    internal static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    private async Task WaitUntilServingAsync()
    {
        var health = new Health.HealthClient(Channel);
        var loader = App.Services.GetServices<IHostedService>().OfType<ModelLoader>().Single();
        for (var i = 0; (await health.CheckAsync(new HealthCheckRequest())).Status != HealthCheckResponse.Types.ServingStatus.Serving; i++)
        {
            // A server that cannot load its models stops: say why at once, not after the wait.
            if (loader.Failure is { } failure)
                throw new InvalidOperationException($"the server could not load its models (on a fresh machine, run scripts/install-deps first): {failure.Message}", failure);
            if (i == 900)
                throw new TimeoutException("the server did not report SERVING within 3 minutes");
            await Task.Delay(200);
        }
        ServingSince = DateTime.UtcNow;
    }

    private async Task WatchHealthAsync()
    {
        using var watch = new Health.HealthClient(Channel).Watch(new HealthCheckRequest(), cancellationToken: _stopWatching.Token);
        try
        {
            await foreach (var reply in watch.ResponseStream.ReadAllAsync(_stopWatching.Token))
            {
                lock (_watchedHealth)
                    _watchedHealth.Add((reply.Status, DateTime.UtcNow));
            }
        }
        catch (RpcException) when (_stopWatching.IsCancellationRequested)
        {
        }
        catch (OperationCanceledException) when (_stopWatching.IsCancellationRequested)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopWatching.CancelAsync();
        await _watching;
        Channel.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}
