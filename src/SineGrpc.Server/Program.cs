using Microsoft.Extensions.Diagnostics.HealthChecks;
using SineGrpc.Engine;
using SineGrpc.Engine.Models;
using SineGrpc.Engine.Sessions;
using SineGrpc.Server.Hosting;
using SineGrpc.Server.Services;

var builder = WebApplication.CreateBuilder(args);

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
    options.EnableDetailedErrors = false;
});
builder.Services.AddGrpcReflection();
builder.Services.AddHealthChecks().AddCheck<ModelsReadyHealthCheck>("models");
builder.Services.AddGrpcHealthChecks();
// Publish health often: the gRPC health service reports the last published result.
builder.Services.Configure<HealthCheckPublisherOptions>(options =>
{
    options.Delay = TimeSpan.Zero;
    options.Period = TimeSpan.FromSeconds(1);
});

var app = builder.Build();
app.MapGrpcService<SegmentationService>();
app.MapGrpcHealthChecksService();
app.MapGrpcReflectionService();
app.MapGet("/", () => "SineGrpc: a gRPC service (HTTP/2). Use a gRPC client; see README.md.");
app.Run();

/// <summary>Entry point, visible to the integration tests.</summary>
public partial class Program;
