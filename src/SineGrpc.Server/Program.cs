using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SineGrpc.Engine.Models.Embedded;
using SineGrpc.Server.Hosting;

// `build-embedded-model <folder> [settings]` builds the embedded model into a cache
// folder and exits: container images run it at build time so pods start without
// building. It reads Engine:Embedded:* like the server (appsettings.json, environment,
// then the arguments after the folder), so the image holds the model the server wants.
if (args is ["build-embedded-model", var cacheFolder, .. var settings])
{
    var configuration = new ConfigurationBuilder()
        .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
        .AddEnvironmentVariables()
        .AddCommandLine(settings)
        .Build();
    var options = configuration.GetSection("Engine:Embedded").Get<EmbeddedModelOptions>() ?? new EmbeddedModelOptions();
    Console.WriteLine(EmbeddedModel.EnsureBuilt(cacheFolder, NullLogger.Instance, options));
    return 0;
}

WebApplication app;
try
{
    app = ServerApp.Create(args);
    await app.StartAsync();
}
catch (Exception e) when (e is OptionsValidationException or InvalidOperationException { Source: "Microsoft.Extensions.Configuration.Binder" })
{
    // A setting out of its range or unknown: one line that names it, not a stack trace.
    Console.Error.WriteLine($"error: bad setting: {e.Message}");
    return 2;
}
catch (IOException e)
{
    // The address is taken, a certificate file is missing: the message says which.
    Console.Error.WriteLine($"error: cannot start: {e.Message}");
    return 1;
}
await app.WaitForShutdownAsync();
return Environment.ExitCode;
