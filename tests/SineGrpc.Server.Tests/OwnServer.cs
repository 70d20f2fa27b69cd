using Grpc.Health.V1;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using SineGrpc.Engine.Tests.TestModels;
using SineGrpc.Server.Hosting;

namespace SineGrpc.Server.Tests;

/// <summary>
/// A server of a test class's own, for settings the shared <see cref="ServerFixture"/> must
/// not have or for tests that stop it. It serves only the tiny tokens-kind model, whose
/// frames take milliseconds: these tests are about timing, which a frame of the embedded
/// model (a second or more on a busy CPU) would eat into.
/// </summary>
internal sealed class OwnServer : IAsyncDisposable
{
    private readonly string _root;

    private OwnServer(string root, WebApplication app, Uri address)
    {
        _root = root;
        App = app;
        Address = address;
        Channel = GrpcChannel.ForAddress(address);
    }

    public WebApplication App { get; }
    public Uri Address { get; }
    public GrpcChannel Channel { get; }

    public static async Task<OwnServer> StartAsync(string name, IDictionary<string, string?> settings)
    {
        var root = Directory.CreateTempSubdirectory($"sine-{name}-").FullName;
        var models = Path.Combine(root, "models");
        TokenTestBundle.Build(Path.Combine(models, ServerFixture.TokenModel));
        var metricsPort = ServerFixture.FreePort();
        var configuration = new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:Grpc:Url"] = "http://127.0.0.1:0",
            ["Kestrel:Endpoints:Metrics:Url"] = $"http://127.0.0.1:{metricsPort}",
            ["Engine:ModelsPath"] = models,
            ["Engine:EnableEmbeddedModel"] = "false",
            ["Engine:Device"] = "cpu",
        };
        foreach (var (key, value) in settings)
            configuration[key] = value;
        var app = ServerApp.Create([], configuration);
        await app.StartAsync();
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses
            .Single(a => !a.EndsWith($":{metricsPort}", StringComparison.Ordinal)));
        var server = new OwnServer(root, app, address);
        await server.WaitUntilServingAsync();
        return server;
    }

    private async Task WaitUntilServingAsync()
    {
        var health = new Health.HealthClient(Channel);
        for (var i = 0; (await health.CheckAsync(new HealthCheckRequest())).Status != HealthCheckResponse.Types.ServingStatus.Serving; i++)
        {
            if (i == 600)
                throw new TimeoutException("the server did not report SERVING within 2 minutes");
            await Task.Delay(200);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}
