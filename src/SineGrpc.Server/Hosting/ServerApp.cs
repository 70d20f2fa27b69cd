using Grpc.AspNetCore.Server;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using SineGrpc.Engine;
using SineGrpc.Engine.Models;
using SineGrpc.Engine.Sessions;
using SineGrpc.Server.Services;
using SineGrpc.Server.Transport;

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

        // A misspelt or misplaced setting (say Engine:IntraOpThreads for
        // Engine:OnnxRuntime:IntraOpThreads) fails the start, naming it, instead of being ignored.
        static void Strict(BinderOptions binder) => binder.ErrorOnUnknownConfiguration = true;
        builder.Services.AddOptions<EngineOptions>().Bind(builder.Configuration.GetSection(EngineOptions.Section), Strict).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<ServiceLimits>().Bind(builder.Configuration.GetSection(ServiceLimits.Section), Strict).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<DrainOptions>().Bind(builder.Configuration.GetSection(DrainOptions.Section), Strict).ValidateDataAnnotations().ValidateOnStart();
        // Room for the drain (which runs inside ApplicationStopping) plus the rest of shutdown.
        builder.Services.AddOptions<HostOptions>().Configure<IOptions<DrainOptions>>((host, drain) =>
            host.ShutdownTimeout = TimeSpan.FromSeconds(drain.Value.GracePeriodSeconds + 10));

        // Kestrel reads its endpoints from "Kestrel" but not its limits: bind those too, so
        // operators set them under Kestrel's own names (appsettings sets the HTTP/2 keep-alive
        // pings that find clients gone without closing their connection).
        builder.WebHost.ConfigureKestrel((context, kestrel) => context.Configuration.GetSection("Kestrel:Limits").Bind(kestrel.Limits));

        builder.Services.AddSingleton<EngineMetrics>();
        builder.Services.AddSingleton<SessionFactory>();
        builder.Services.AddSingleton<ModelCatalog>();
        builder.Services.AddSingleton<StreamSlots>();
        builder.Services.AddSingleton<SegmentGate>();
        builder.Services.AddSingleton<ServiceMetrics>();
        builder.Services.AddSingleton<DrainCoordinator>();
        builder.Services.AddSingleton<HealthStatusPublisher>();
        builder.Services.AddHostedService(s => s.GetRequiredService<DrainCoordinator>());
        builder.Services.AddHostedService<ModelLoader>();

        // Metrics for Prometheus, on their own port (see MetricsEndpoint).
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(ServiceMetrics.MeterName, Engine.Sessions.EngineMetrics.MeterName, "System.Runtime")
            .AddPrometheusExporter());

        builder.Services.AddGrpc();
        builder.Services.AddOptions<GrpcServiceOptions>().Configure<IOptions<ServiceLimits>>((grpc, limits) =>
        {
            grpc.MaxReceiveMessageSize = limits.Value.MaxMessageBytes;
            grpc.MaxSendMessageSize = limits.Value.MaxMessageBytes;
            // In place of grpc-dotnet's own gzip and deflate, whose inflated size has no bound.
            grpc.CompressionProviders.Clear();
            foreach (var provider in BoundedDecompression.Providers(limits.Value.MaxMessageBytes))
                grpc.CompressionProviders.Add(provider);
        });
        builder.Services.AddGrpcReflection();
        builder.Services.AddHealthChecks().AddCheck<ModelsReadyHealthCheck>("models");
        // The overall status ("", what Kubernetes probes ask) and the same under the service's
        // own name, for clients and proxies that check a named service.
        builder.Services.AddGrpcHealthChecks(health =>
            health.Services.Map(Sine.V1.Segmentation.Descriptor.FullName, _ => true));
        // Check runs the checks per call; Watch streams get what is published: at once on
        // start, then when the models are ready (HealthStatusPublisher), not every second.
        builder.Services.Configure<HealthCheckPublisherOptions>(options =>
        {
            options.Delay = TimeSpan.Zero;
            options.Period = HealthStatusPublisher.Period;
        });

        var app = builder.Build();
        app.UseMiddleware<CallErrorCounter>();
        app.MapGrpcService<SegmentationService>();
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        MetricsEndpoint.Map(app, builder.Configuration);
        app.MapGet("/", () => "SineGrpc serves gRPC over HTTP/2 on this port; see README.md.");
        return app;
    }
}
