using Microsoft.Extensions.Diagnostics.HealthChecks;
using SineGrpc.Engine;
using SineGrpc.Engine.Models;
using SineGrpc.Engine.Sessions;
using SineGrpc.Server.Services;

namespace SineGrpc.Server.Hosting;

/// <summary>Builds the gRPC host; Program runs it, integration tests start it on a loopback port.</summary>
public static class ServerApp
{
    public static WebApplication Create(string[] args, IDictionary<string, string?>? overrides = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            // Settings files live beside the binary, so the service behaves the same from any working directory.
            ContentRootPath = AppContext.BaseDirectory,
        });
        if (overrides is not null)
            builder.Configuration.AddInMemoryCollection(overrides);

        builder.Services.Configure<EngineOptions>(builder.Configuration.GetSection(EngineOptions.Section));
        builder.Services.Configure<ServiceLimits>(builder.Configuration.GetSection(ServiceLimits.Section));
        var limits = builder.Configuration.GetSection(ServiceLimits.Section).Get<ServiceLimits>() ?? new ServiceLimits();

        builder.Services.AddSingleton<SessionFactory>();
        builder.Services.AddSingleton<ModelCatalog>();
        builder.Services.AddSingleton<StreamSlots>();
        builder.Services.AddHostedService<ModelLoader>();

        builder.Services.AddGrpc(options =>
        {
            options.MaxReceiveMessageSize = limits.MaxMessageBytes;
            options.MaxSendMessageSize = limits.MaxMessageBytes;
        });
        builder.Services.AddGrpcReflection();
        builder.Services.AddHealthChecks().AddCheck<ModelsReadyHealthCheck>("models");
        builder.Services.AddGrpcHealthChecks();
        // The gRPC health service answers with the last published result: publish often.
        builder.Services.Configure<HealthCheckPublisherOptions>(options =>
        {
            options.Delay = TimeSpan.Zero;
            options.Period = TimeSpan.FromSeconds(1);
        });

        var app = builder.Build();
        app.MapGrpcService<SegmentationService>();
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        app.MapGet("/", () => "SineGrpc serves gRPC over HTTP/2 on this port; see README.md.");
        return app;
    }
}
