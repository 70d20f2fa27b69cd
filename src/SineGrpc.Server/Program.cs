using Microsoft.Extensions.Logging.Abstractions;
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

await ServerApp.Create(args).RunAsync();
return Environment.ExitCode;
