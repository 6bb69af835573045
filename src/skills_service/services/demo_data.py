"""A realistic demo organisation, the same every time for the same seed.

Built for ``skills-service demo-data``: a catalogue of real skills with aliases and
Markdown descriptions, people in every role, teams with managers and target levels,
and proficiencies with a history, certifications (some expired, some expiring soon)
and verifications by the person's team manager. Nothing comes from outside the
module: names are drawn from the lists below, with ``random.Random(seed)``.

Catalogue and teams go through the services, so their rules hold. People,
memberships, proficiencies and their history are the bulk of the rows (a few
hundred thousand at 5,000 people); they are inserted in batches with the services'
own normalisation (``normalise_email``, ``clean_text``, ``name_key``), which keeps
``--people 5000`` within seconds and lets the history be dated over the past
months instead of all at "now". The rules a service would check hold by
construction, and the tests check them: levels 1-5, history rows ending in the
current state, verifications only by a manager of one of the person's teams.

Demo people have no password: they exist to be looked at. Viewers hold no
proficiencies, because the policy does not let a viewer edit their own.

The caller owns the transaction; nothing here commits.
"""

from __future__ import annotations

import heapq
import random
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from skills_service.errors import Conflict, InvalidInput
from skills_service.models import (
    Base,
    Person,
    Proficiency,
    ProficiencyChange,
    Skill,
    Team,
    TeamMember,
)
from skills_service.models.base import utcnow
from skills_service.policy import Role
from skills_service.services import audit, search_index, summaries
from skills_service.services.common import clean_text, etag_for, name_key
from skills_service.services.people import NAME_MAX, normalise_email
from skills_service.services.proficiencies import EXPIRY_WARNING_DAYS
from skills_service.services.skills import create_skill, get_skill, update_skill
from skills_service.services.teams import create_team, get_team, replace_targets

MAX_PEOPLE = 200_000
TEAM_SIZE = 12
MANAGER_SHARE = 0.10
VIEWER_SHARE = 0.03
INACTIVE_SHARE = 0.02
SECOND_TEAM_SHARE = 0.08
PROFICIENCIES_PER_PERSON = (5, 20)
TARGETS_PER_TEAM = (5, 10)
VERIFIED_SHARE = 0.33
GREW_SHARE = 0.45
INTERESTED_SHARE_GROWING = 0.5
INTERESTED_SHARE_ESTABLISHED = 0.2
NOTE_SHARE = 0.2
CERTIFIED_SHARE = 0.6
TENURE_DAYS = (30, 1100)
BATCH_PEOPLE = 100

LEVELS = (1, 2, 3, 4, 5)
# Levels bunch at 2-3; people know their own field a level better than others.
FOCUS_LEVEL_WEIGHTS = (8, 22, 34, 25, 11)
OTHER_LEVEL_WEIGHTS = (30, 35, 22, 10, 3)
TARGET_LEVEL_WEIGHTS = (0, 25, 45, 25, 5)
FOCUS_WEIGHT = 5.0
POPULAR_WEIGHT = 3.0
DEPRECATED_WEIGHT = 0.3

Progress = Callable[[int], None]


def _listed(text: str) -> tuple[str, ...]:
    """The comma-separated items of ``text``, in order."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


@dataclass(frozen=True)
class DemoSummary:
    skills: int
    people: int
    teams: int
    proficiencies: int


@dataclass(frozen=True)
class SkillSeed:
    """One catalogue entry; ``summary`` is the first sentence of its description."""

    name: str
    summary: str
    aliases: tuple[str, ...] = ()
    certification: str | None = None
    popular: bool = False
    deprecated: bool = False


@dataclass(frozen=True)
class TeamSeed:
    name: str
    mission: str
    focus: tuple[str, ...]


# One skill a line under its "## Category": name | aliases, comma-separated | summary.
SKILL_TABLE = """
## Languages
Python | py | A general-purpose language for services, automation and data work
Go | golang | A compiled language with lightweight concurrency, common in cloud tooling
C | | Systems programming close to the hardware: memory, pointers and the toolchain
C++ | cpp | Performance-critical software in modern C++, with RAII and templates
C# | csharp | The .NET language for services, desktop and game development
Java | | JVM services and libraries, from the language to its build and runtime
Kotlin | | Concise JVM and Android development with null safety and coroutines
Rust | | Memory-safe systems programming with ownership, borrowing and async
TypeScript | TS | JavaScript with static types, for large frontend and Node.js codebases
JavaScript | JS, ECMAScript | The language of the web platform, in the browser and on the server
SQL | | Querying and shaping relational data: joins, window functions, query plans
Bash | shell scripting | Shell scripting for automation on Unix-like systems
Ruby | | Expressive scripting and web development, most often with Rails
Scala | | Functional and object-oriented programming on the JVM
Swift | | Apple platform development in a safe, modern language
R | R language | Statistical computing and graphics for analysis and research
PHP | | Server-side web development, from legacy applications to modern frameworks
CoffeeScript | | A language compiling to JavaScript, superseded by modern JavaScript
## Backend
REST API design | REST | Resource modelling, HTTP semantics, versioning and error formats
GraphQL | | Schema-first APIs with queries, mutations and resolvers
gRPC | | Contract-first remote procedure calls with Protocol Buffers
Flask | | Lightweight Python web applications and APIs
Django | | The batteries-included Python web framework, its ORM and admin
FastAPI | | Typed Python APIs on ASGI with generated OpenAPI documents
Spring Boot | Spring | Production-ready Java services on the Spring ecosystem
Node.js | Node, NodeJS | Server-side JavaScript on an event loop
Microservices | | Independently deployable services, and living with the result
Event-driven architecture | EDA | Designing with events, queues and eventual consistency
Domain-driven design | DDD | Modelling the domain with bounded contexts and a shared language
Distributed systems | | Consensus, replication, partitions and partial failure
System design | | Turning requirements into a scalable, operable architecture
RabbitMQ | | Message brokering with AMQP: exchanges, queues and acknowledgements
## Frontend & Mobile
React | React.js, ReactJS | Component-based user interfaces with hooks and state management
Vue.js | Vue | A progressive framework for reactive web interfaces
Angular | | A TypeScript framework for large single-page applications
AngularJS | | The original Angular 1.x framework, out of support since 2022
HTML | HTML5 | Semantic markup, forms and document structure for the web
CSS | CSS3 | Layout, responsive design and styling with modern CSS
Web accessibility | a11y, WCAG | Interfaces everyone can use, to WCAG 2.2 level AA
Web performance | | Core Web Vitals, loading strategies and runtime profiling
Next.js | | A React framework with server rendering and file-based routing
Svelte | | A compiler-first framework for lean web interfaces
iOS development | iOS | Native iPhone and iPad apps with UIKit and SwiftUI
Android development | Android | Native Android apps with Kotlin and Jetpack
React Native | | Cross-platform mobile apps with React
Flutter | | Cross-platform apps in Dart from one codebase
## Cloud
AWS | Amazon Web Services | Amazon's cloud: compute, storage, networking and managed services
Microsoft Azure | Azure | Microsoft's cloud: subscriptions, networking, App Service and AKS
Google Cloud | GCP, Google Cloud Platform | Google's cloud: projects, IAM, GKE and data services
Kubernetes | k8s | Running containers in production: workloads, networking, operators
Docker | | Building, shipping and running container images
Terraform | | Infrastructure as code with plans, state and modules
Ansible | | Agentless configuration management and automation
Helm | | Packaging and releasing Kubernetes applications as charts
Linux administration | Linux | Running Linux servers: packages, services, storage, debugging
Networking | TCP/IP | IP, DNS, TLS, load balancing and how packets really flow
Serverless | FaaS | Functions and managed services instead of servers
Istio | | A service mesh for traffic management, mutual TLS and telemetry
FinOps | cloud cost management | Understanding, allocating and reducing cloud spend
Nginx | | Web server, reverse proxy and load balancer configuration
## DevOps
Git | | Version control: branching, rebasing, history and collaboration
CI/CD | continuous integration, continuous delivery | Automated build, test and release
GitHub Actions | | Workflows, runners and reusable actions
GitLab CI | | Pipelines, stages and runners in GitLab
Jenkins | | Pipelines as code on the Jenkins automation server
Observability | o11y | Understanding a system from outside through logs, metrics and traces
Prometheus | | Metrics collection, PromQL and alerting rules
Grafana | | Dashboards and alerting across data sources
OpenTelemetry | OTel | Vendor-neutral instrumentation for traces, metrics and logs
Site reliability engineering | SRE | SLOs, error budgets, toil reduction and capacity planning
Incident management | on-call | Running incidents and on-call, and learning without blame
Chaos engineering | | Injecting failure on purpose to build confidence in resilience
## Databases
PostgreSQL | Postgres | The open-source relational database: schema design, indexing, tuning
MySQL | | The widely deployed relational database and its replication
SQLite | | The embedded SQL database, from mobile apps to test suites
Redis | | In-memory data structures for caching, queues and rate limits
MongoDB | Mongo | Document storage, aggregation pipelines and replica sets
Elasticsearch | Elastic | Full-text search, analyzers and relevance tuning
Cassandra | Apache Cassandra | Wide-column storage for write-heavy, always-on workloads
DynamoDB | | The managed key-value and document database of AWS
Query optimisation | query tuning | Reading query plans and making slow queries fast
Database migrations | | Evolving schemas safely, without downtime
Oracle Database | | Enterprise relational database administration and PL/SQL
## Data & Analytics
Apache Kafka | Kafka | Event streaming: topics, partitions and consumer groups
Apache Spark | Spark, PySpark | Distributed data processing with DataFrames
dbt | data build tool | SQL transformations with tests, documentation and lineage
Apache Airflow | Airflow | Orchestrating data pipelines as DAGs
Data modelling | data modeling | Dimensional and relational models for analytics
Data warehousing | | Designing and running analytical stores
Snowflake | | The cloud data warehouse: warehouses, stages and data sharing
BigQuery | | The serverless data warehouse of Google Cloud
pandas | | DataFrame analysis and wrangling in Python
Power BI | | Reports and semantic models for business intelligence
Tableau | | Visual analytics and dashboards
Data quality | | Validating, monitoring and fixing data at its source
ETL pipelines | ETL, ELT | Extracting, loading and transforming data reliably
## Machine Learning
Machine learning | ML | Supervised and unsupervised learning, evaluation and bias
Deep learning | | Neural networks, training dynamics and architectures
PyTorch | | Tensors, autograd and model training
TensorFlow | | Building and serving models with TensorFlow and Keras
scikit-learn | sklearn | Classical machine learning in Python
Natural language processing | NLP | Text classification, extraction and embeddings
Computer vision | | Image classification, detection and segmentation
MLOps | | Deploying, monitoring and retraining models in production
Statistics | | Inference, uncertainty and the analysis of experiments
Large language models | LLM, LLMs | Applications on LLMs: retrieval, evaluation and safety
Experiment design | A/B testing | Designing and reading controlled experiments
Recommender systems | | Ranking and recommendation at scale
Time series forecasting | forecasting | Forecasting demand and load from history
## Security
Application security | AppSec | Software that resists attack, from design to deployment
Threat modelling | threat modeling | Finding what can go wrong before it is built
OWASP Top 10 | | The most critical web application risks and their defences
Penetration testing | pentesting | Authorised attacks that find exploitable weaknesses
Identity and access management | IAM | Authentication, authorisation and least privilege
OAuth 2.0 and OpenID Connect | OAuth, OIDC | Delegated authorisation and single sign-on
Cryptography | | Choosing and using primitives, TLS and key management correctly
Secure code review | | Reading code for vulnerabilities and unsafe patterns
Security incident response | | Detecting, containing and investigating breaches
Cloud security | | Securing cloud accounts, workloads and data
Vulnerability management | | Finding, triaging and fixing vulnerabilities across the estate
Information security management | ISMS | Policies, risk and controls for an organisation
Secrets management | | Storing, rotating and auditing credentials and keys
Container security | | Hardened images, runtime policies and supply-chain checks
ISO 27001 | | Running an information security management system to the standard
## Testing
Unit testing | | Small, fast tests that pin down behaviour
Test automation | | Automated checks at every level of the test pyramid
pytest | | Fixtures, parametrisation and plugins for Python tests
Playwright | | Reliable end-to-end browser tests
Selenium | | Browser automation with WebDriver
Cypress | | Component and end-to-end tests in the browser
Performance testing | load testing | Load, stress and soak tests, and reading their results
Contract testing | | Consumer-driven contracts between services
Property-based testing | | Generated inputs that search for counterexamples
Exploratory testing | | Structured, curious testing by a human
Test-driven development | TDD | Writing the test first, in small steps
Software testing fundamentals | | Test design techniques and vocabulary
Mutation testing | | Measuring how well tests catch injected faults
## Design
UX design | user experience design | Designing the whole experience of a product
UI design | interface design | Visual interface design: layout, type and colour
User research | UX research | Interviews, observation and synthesis
Figma | | Design, prototyping and hand-off in Figma
Prototyping | | Testing ideas quickly at the right fidelity
Interaction design | IxD | How an interface responds to people
Information architecture | IA | Structuring and labelling content
Design systems | | Shared components, tokens and guidelines
Usability testing | | Watching people use a product and learning from it
Service design | | Designing services end to end, front and back stage
Content design | UX writing | Words that help people get things done
## Management
People management | | Hiring, growing and supporting a team; one-to-ones and feedback
Technical leadership | tech lead | Setting technical direction and raising the bar
Agile delivery | Agile | Iterative delivery with short feedback loops
Scrum | | Sprints, roles and events of Scrum
Kanban | | Visualising work and limiting work in progress
Project management | | Scope, schedule, budget and risk
Product management | | Deciding what to build and why
Stakeholder management | | Keeping the people who matter informed and on side
Roadmapping | | Planning outcomes over quarters
Hiring and interviewing | interviewing | Fair, structured hiring
Coaching and mentoring | mentoring | Helping others grow
OKRs | objectives and key results | Setting and tracking objectives and key results
Budgeting | | Planning and tracking a team's spend
Risk management | | Identifying, assessing and treating risks
## Communication
Technical writing | | Clear documentation, guides and design documents
Presenting | public speaking | Talks and demos for any audience
Workshop facilitation | | Running sessions that reach a decision
Negotiation | | Reaching agreements that last
Customer communication | | Explaining technical matters to customers
Cross-cultural collaboration | | Working well across countries and time zones
"""

CERTIFICATIONS: dict[str, str] = {
    "AWS": "AWS Certified Solutions Architect - Associate",
    "Microsoft Azure": "Microsoft Certified: Azure Administrator Associate",
    "Google Cloud": "Google Cloud Professional Cloud Architect",
    "Kubernetes": "Certified Kubernetes Administrator (CKA)",
    "Terraform": "HashiCorp Certified: Terraform Associate",
    "Linux administration": "Linux Foundation Certified System Administrator (LFCS)",
    "FinOps": "FinOps Certified Practitioner",
    "MongoDB": "MongoDB Associate Developer",
    "Oracle Database": "Oracle Database SQL Certified Associate",
    "Snowflake": "SnowPro Core",
    "Power BI": "Microsoft Certified: Power BI Data Analyst Associate",
    "Web accessibility": "IAAP CPACC",
    "Penetration testing": "OSCP",
    "Security incident response": "GIAC Certified Incident Handler (GCIH)",
    "Cloud security": "CCSP",
    "Information security management": "CISSP",
    "ISO 27001": "ISO/IEC 27001 Lead Implementer",
    "Software testing fundamentals": "ISTQB Certified Tester Foundation Level",
    "Scrum": "Professional Scrum Master I (PSM I)",
    "Project management": "PMP",
}
"""Skills whose proficiency may carry a certification expiry date."""

POPULAR = frozenset(
    _listed(
        """
        Python, Java, JavaScript, TypeScript, SQL, REST API design, Node.js, React, HTML, CSS,
        AWS, Kubernetes, Docker, Linux administration, Git, PostgreSQL, Unit testing,
        Agile delivery
        """
    )
)
"""Skills that many people hold, wherever they work."""

DEPRECATED = frozenset({"CoffeeScript", "AngularJS"})

CATEGORY_EVIDENCE: dict[str, str] = {
    "Languages": "idiomatic code in production, reviewed by peers",
    "Backend": "services you designed and run in production",
    "Frontend & Mobile": "shipped interfaces, measured with real users",
    "Cloud": "infrastructure you built, secured and operate",
    "DevOps": "pipelines and on-call practice that others rely on",
    "Databases": "schemas and queries that hold up under load",
    "Data & Analytics": "pipelines and reports the business trusts",
    "Machine Learning": "models in production, with their evaluation",
    "Security": "findings fixed and controls that stand up to review",
    "Testing": "test suites that catch regressions before release",
    "Design": "research and designs that changed a product",
    "Management": "teams and projects delivered, and people grown on the way",
    "Communication": "documents, talks and sessions others found useful",
}
"""What a level of 4 or above looks like, per category (part of each description)."""

# One team a line: name | the categories it works in | its mission.
TEAM_TABLE = """
Platform | Cloud, DevOps, Languages | Runs the shared compute and deployment platform.
Payments | Backend, Languages, Security, Databases | Takes money safely, and pays it out.
Data Science | Machine Learning, Data & Analytics, Languages | Turns data into decisions.
Data Engineering | Data & Analytics, Databases, Languages | Builds pipelines and the warehouse.
Identity | Security, Backend | Sign-in, accounts, permissions and single sign-on.
Mobile | Frontend & Mobile, Design, Testing | The iOS and Android apps.
Web | Frontend & Mobile, Design, Testing | The customer-facing web application.
Search | Backend, Databases, Machine Learning | Indexing, ranking and search relevance.
Security Operations | Security, Cloud, DevOps | Detection, response and vulnerabilities.
Site Reliability | DevOps, Cloud | Keeps production fast and available.
Developer Experience | DevOps, Languages, Testing | Tools, CI and paved roads for engineers.
Quality Engineering | Testing, Languages | Test strategy and automation across teams.
Design System | Design, Frontend & Mobile | Shared components and guidelines.
User Research | Design, Communication | Understands customers and their needs.
Product Management | Management, Communication | Decides what to build next, and why.
Growth | Frontend & Mobile, Data & Analytics, Design | Onboarding, activation, experiments.
Checkout | Backend, Frontend & Mobile, Testing | Basket, checkout and order confirmation.
Billing | Backend, Databases | Invoices, subscriptions and tax.
Fraud Detection | Machine Learning, Security, Data & Analytics | Stops fraud in real time.
Recommendations | Machine Learning, Data & Analytics, Backend | Personalised recommendations.
Notifications | Backend, Cloud | Email, push and in-app messages.
Integrations | Backend, Security | Partner APIs and webhooks.
Analytics | Data & Analytics, Databases | Dashboards and self-service reporting.
Machine Learning Platform | Machine Learning, Cloud, DevOps | Training and serving models.
Internal Tools | Backend, Frontend & Mobile | Back-office tools for support and operations.
Core API | Backend, Languages, Testing | The public API and its contracts.
Storage | Databases, Cloud | Databases, backups and object storage as a service.
Networking | Cloud, Security | Edge, DNS, load balancing and connectivity.
Observability | DevOps, Cloud | Logs, metrics and tracing for every service.
Release Engineering | DevOps, Testing | Builds, releases and feature flags.
Compliance | Security, Management | Audits, certifications and policies.
Marketplace | Backend, Frontend & Mobile | Sellers, listings and catalogue quality.
Pricing | Backend, Data & Analytics | Prices, discounts and promotions.
Logistics | Backend, Databases | Shipping, tracking and returns.
Customer Support Tools | Frontend & Mobile, Communication | Help centre and agent tooling.
Localisation | Frontend & Mobile, Communication | Translations and regional formats.
Accessibility | Frontend & Mobile, Design | Makes every product usable by everyone.
Messaging | Backend, Frontend & Mobile | Chat between buyers, sellers and support.
Enterprise | Backend, Management | Features and onboarding for large customers.
Delivery Office | Management, Communication | Portfolio planning and delivery practice.
"""
TEAM_QUALIFIERS = _listed("Core, Edge, EMEA, Americas, APAC, North, South, East, West, Labs")
MANAGER_FOCUS = ("Management", "Communication")
ADMIN_FOCUS = ("Cloud", "Security", "DevOps")

FIRST_NAMES = _listed(
    """
    Aaliyah, Abdul, Adaeze, Agnieszka, Ahmed, Aiko, Alejandro, Alice, Amir, Anders, Anjali,
    Anton, Ayesha, Beatriz, Bilal, Bogdan, Camille, Chiara, Chidi, Clara, Daniel, Daria, David,
    Deepak, Diego, Dilnoza, Eero, Elif, Emma, Esther, Farah, Felix, Fernando, Freya, Gabriel,
    Giulia, Hamza, Hannah, Haruto, Helga, Hiroshi, Ingrid, Isabel, Jakob, Javier, Jin, Joao,
    José, Julia, Kaito, Kamala, Katarzyna, Kwame, Laura, Leon, Lina, Łukasz, Malik, Marek,
    Maria, Mateo, Mia, Mikael, Nia, Nikhil, Nina, Oliver, Olu, Pablo, Paula, Pedro, Rahul,
    Renée, Rosa, Ruth, Samir, Sanjay, Sipho, Søren, Sunita, Tomás, Valentina, Victor, Wei, Xin,
    Yara, Yusuf, Zanele, Zoë
    """
)
LAST_NAMES = _listed(
    """
    Abdullah, Achebe, Adeyemi, Alvarez, Andersen, Bakker, Banerjee, Becker, Berg, Bhatt, Brown,
    Castro, Chen, Cohen, Da Silva, Dimitrov, Dubois, Erikson, Fernández, Fontaine, Friedman,
    Gallo, Gomez, Gupta, Hakimi, Hoffmann, Horvat, Hughes, Ibrahim, Iyer, Jankowski, Johansson,
    Jones, Kaur, Kelly, Khan, Kobayashi, Kovač, Kuznetsova, Lambert, Lee, Lindqvist, Liu,
    MacLeod, Mahlangu, Mendes, Mensah, Moreau, Mwangi, Nakashima, Nowak, Núñez, O'Connor, Oduya,
    Olsen, Park, Pereira, Popescu, Quispe, Rahman, Ramos, Reddy, Richter, Romano, Sato,
    Schneider, Shah, Sokolov, Suzuki, Takahashi, Tran, Van der Berg, Vasquez, Virtanen, Walker,
    Weiss, Williams, Wójcik, Yamamoto, Yilmaz, Zhou, Zimmermann
    """
)
NOTE_TEMPLATES = (
    "Use {skill} every day.",
    "Learning {skill} this quarter with a mentor.",
    "Led our move to {skill}.",
    "Happy to pair on {skill} questions.",
    "Gave an internal talk on {skill}.",
    "Mostly from side projects so far.",
    "Rusty: last used {skill} two years ago.",
    "Wrote the team's {skill} guidelines.",
)
# Letters that Unicode does not decompose into a base letter and an accent.
_ASCII_FOLD = str.maketrans({"ø": "o", "ł": "l", "ß": "ss", "æ": "ae", "đ": "d"})


def _parse_catalogue(table: str) -> dict[str, tuple[SkillSeed, ...]]:
    catalogue: dict[str, list[SkillSeed]] = {}
    seeds: list[SkillSeed] = []
    for line in table.strip().splitlines():
        if line.startswith("## "):
            seeds = catalogue.setdefault(line.removeprefix("## ").strip(), [])
            continue
        name, aliases, summary = (part.strip() for part in line.split("|"))
        seeds.append(
            SkillSeed(
                name=name,
                summary=summary,
                aliases=_listed(aliases),
                certification=CERTIFICATIONS.get(name),
                popular=name in POPULAR,
                deprecated=name in DEPRECATED,
            )
        )
    return {category: tuple(seeds) for category, seeds in catalogue.items()}


def _parse_teams(table: str) -> tuple[TeamSeed, ...]:
    teams = []
    for line in table.strip().splitlines():
        name, focus, mission = (part.strip() for part in line.split("|"))
        teams.append(TeamSeed(name=name, mission=mission, focus=_listed(focus)))
    return tuple(teams)


CATALOGUE = _parse_catalogue(SKILL_TABLE)
TEAMS = _parse_teams(TEAM_TABLE)


@dataclass(frozen=True)
class _CatalogueSkill:
    """A created skill and what the generator needs to know about it."""

    id: int
    category: str
    seed: SkillSeed


@dataclass(eq=False)
class _PlannedPerson:
    """A person before and after insertion (``id`` is set once inserted)."""

    number: int
    name: str
    email: str
    role: Role
    active: bool
    joined: datetime
    id: int = 0
    teams: list[_PlannedTeam] = field(default_factory=list)


@dataclass(eq=False)
class _PlannedTeam:
    """A team, its managers and members (``id`` is set once created)."""

    seed: TeamSeed
    name: str
    managers: list[_PlannedPerson] = field(default_factory=list)
    members: list[_PlannedPerson] = field(default_factory=list)
    id: int = 0


def catalogue_is_empty(session: Session) -> bool:
    """Whether the catalogue has no skill yet (demo data goes only into such a database)."""
    return session.scalar(select(Skill.id).limit(1)) is None


def generate_demo_organisation(
    session: Session,
    *,
    people: int = 300,
    seed: int = 7,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> DemoSummary:
    """Load the demo organisation into an empty catalogue; the caller commits.

    ``progress`` is called with the number of people whose proficiencies are
    written so far. ``now`` anchors every date (expiry, history); the same seed
    and ``now`` give the same organisation.
    """
    if not 1 <= people <= MAX_PEOPLE:
        raise InvalidInput(
            "The number of people is out of range.",
            {"people": [f"Between 1 and {MAX_PEOPLE}."]},
        )
    if not catalogue_is_empty(session):
        raise Conflict("demo data is only loaded into an empty database")
    # Reproducible content, not a secret: a seeded generator is the point.
    rng = random.Random(seed)  # noqa: S311  # nosec B311
    at = now or utcnow()
    catalogue = _create_catalogue(session)
    staff = _plan_people(rng, people, at)
    _insert_people(session, staff)
    teams = _create_teams(session, rng, staff, catalogue)
    held = _insert_proficiencies(session, rng, staff, catalogue, at, progress)
    summaries.rebuild(session, today=at.date())
    search_index.refresh(session, (person.id for person in staff))
    _backdate(session, teams, at - timedelta(days=TENURE_DAYS[1] + 30))
    _deprecate(session, catalogue)
    summary = DemoSummary(
        skills=len(catalogue), people=len(staff), teams=len(teams), proficiencies=held
    )
    # People, memberships and proficiencies are bulk-inserted, unseen by the unit of
    # work: one event stands for them.
    audit.record(session, "demo_data.loaded", target_type="organisation", after=asdict(summary))
    return summary


def _create_catalogue(session: Session) -> list[_CatalogueSkill]:
    created = []
    for category, seeds in CATALOGUE.items():
        for skill_seed in seeds:
            skill = create_skill(
                session,
                name=skill_seed.name,
                category=category,
                description=_description(skill_seed, category),
                aliases=skill_seed.aliases,
            )
            created.append(_CatalogueSkill(id=skill.id, category=category, seed=skill_seed))
    return created


def _description(skill_seed: SkillSeed, category: str) -> str:
    lines = [
        f"{skill_seed.summary}.",
        "",
        f"- **Level 3 (practitioner):** works with {skill_seed.name} unaided on everyday tasks.",
        f"- **Level 4 and above:** {CATEGORY_EVIDENCE[category]}.",
    ]
    if skill_seed.certification:
        lines.append(f"- **Certification:** {skill_seed.certification}.")
    if skill_seed.deprecated:
        lines += ["", "*Deprecated: kept for history; no new proficiencies.*"]
    return "\n".join(lines)


def _role_counts(people: int) -> tuple[dict[Role, int], int]:
    """How many people have each role, and how many teams they form."""
    admins = min(people, 1 if people < 200 else 2)
    rest = people - admins
    teams = 0 if rest == 0 else max(1, round(rest / TEAM_SIZE))
    managers = min(rest, max(teams, round(people * MANAGER_SHARE)))
    viewers = min(rest - managers, round(people * VIEWER_SHARE))
    counts = {
        Role.ADMIN: admins,
        Role.MANAGER: managers,
        Role.VIEWER: viewers,
        Role.MEMBER: rest - managers - viewers,
    }
    return counts, teams


def _plan_people(rng: random.Random, people: int, now: datetime) -> list[_PlannedPerson]:
    counts, _ = _role_counts(people)
    roles = [role for role, count in counts.items() for _ in range(count)]
    rng.shuffle(roles)
    staff = []
    for number, role in enumerate(roles, start=1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        staff.append(
            _PlannedPerson(
                number=number,
                name=clean_text(f"{first} {last}", field="name", max_length=NAME_MAX),
                email=normalise_email(f"{_ascii(first)}.{_ascii(last)}{number}@example.org"),
                role=role,
                active=role is not Role.MEMBER or rng.random() >= INACTIVE_SHARE,
                joined=now - timedelta(days=rng.uniform(*TENURE_DAYS)),
            )
        )
    return staff


def _ascii(name: str) -> str:
    """``"Søren"`` -> ``"soren"``, ``"O'Connor"`` -> ``"oconnor"``: a mailbox-friendly name."""
    folded = unicodedata.normalize("NFKD", name.lower().translate(_ASCII_FOLD))
    return "".join(char for char in folded if "a" <= char <= "z")


def _insert_people(session: Session, staff: list[_PlannedPerson]) -> None:
    for batch in _batches(staff, 1000):
        emails = [person.email for person in batch]
        taken = session.scalar(select(Person.email).where(Person.email.in_(emails)).limit(1))
        if taken is not None:
            raise Conflict(f"A person with the demo address {taken} already exists.")
        rows = [
            {
                "name": person.name,
                "name_key": name_key(person.name),
                "email": person.email,
                "role": person.role.value,
                "active": person.active,
                "created_at": person.joined,
                "updated_at": person.joined,
            }
            for person in batch
        ]
        ids = session.scalars(
            insert(Person).returning(Person.id, sort_by_parameter_order=True), rows
        ).all()
        for person, person_id in zip(batch, ids, strict=True):
            person.id = person_id


def _create_teams(
    session: Session,
    rng: random.Random,
    staff: list[_PlannedPerson],
    catalogue: list[_CatalogueSkill],
) -> list[_PlannedTeam]:
    """Teams of about ``TEAM_SIZE``, each with one or two managers and 5-10 targets."""
    _, count = _role_counts(len(staff))
    teams = _plan_teams(rng, count)
    if not teams:
        return teams
    managers = [person for person in staff if person.role is Role.MANAGER]
    members = [person for person in staff if person.role is Role.MEMBER and person.active]
    rng.shuffle(managers)
    rng.shuffle(members)
    second_managers = rng.sample(teams, min(len(teams), max(0, len(managers) - len(teams))))
    for team, manager in zip([*teams, *second_managers], managers, strict=False):
        team.managers.append(manager)
        manager.teams.append(team)
    # Managers beyond two per team work in a team without managing it.
    for index, person in enumerate([*managers[len(teams) * 2 :], *members]):
        team = teams[index % len(teams)]
        team.members.append(person)
        person.teams.append(team)
    if len(teams) > 1:
        for person in members:
            if rng.random() < SECOND_TEAM_SHARE:
                other = rng.choice([team for team in teams if team not in person.teams])
                other.members.append(person)
                person.teams.append(other)
    for team in teams:
        team.id = create_team(session, name=team.name, description=team.seed.mission).id
    session.execute(
        insert(TeamMember),
        [
            {"team_id": team.id, "person_id": person.id, "is_manager": is_manager}
            for team in teams
            for is_manager, group in ((True, team.managers), (False, team.members))
            for person in group
        ],
    )
    live = [skill for skill in catalogue if not skill.seed.deprecated]
    for team in teams:
        replace_targets(
            session,
            team_id=team.id,
            wanted=_targets(rng, team.seed.focus, live),
            if_match=etag_for(get_team(session, team.id).version),
        )
    return teams


def _plan_teams(rng: random.Random, count: int) -> list[_PlannedTeam]:
    """Team names: every base name once, then with a qualifier, then numbered."""
    seeds = list(TEAMS)
    rng.shuffle(seeds)
    teams = []
    for index in range(count):
        team_seed = seeds[index % len(seeds)]
        round_number = index // len(seeds)
        if round_number == 0:
            name = team_seed.name
        elif round_number <= len(TEAM_QUALIFIERS):
            name = f"{team_seed.name} {TEAM_QUALIFIERS[round_number - 1]}"
        else:
            name = f"{team_seed.name} {round_number + 1}"
        teams.append(_PlannedTeam(seed=team_seed, name=name))
    return teams


def _targets(
    rng: random.Random, focus: Sequence[str], live: list[_CatalogueSkill]
) -> list[tuple[int, int]]:
    wanted = rng.randint(*TARGETS_PER_TEAM)
    in_focus = [skill for skill in live if skill.category in focus]
    chosen = rng.sample(in_focus, min(wanted, len(in_focus)))
    taken = {skill.id for skill in chosen}
    others = [skill for skill in live if skill.id not in taken]
    chosen += rng.sample(others, wanted - len(chosen))
    return [(skill.id, rng.choices(LEVELS, TARGET_LEVEL_WEIGHTS)[0]) for skill in chosen]


def _insert_proficiencies(
    session: Session,
    rng: random.Random,
    staff: list[_PlannedPerson],
    catalogue: list[_CatalogueSkill],
    now: datetime,
    progress: Progress | None,
) -> int:
    """Each person's proficiencies and their history, a batch of people at a time."""
    weights_for: dict[tuple[str, ...], list[float]] = {}
    held = 0
    done = 0
    for batch in _batches(staff, BATCH_PEOPLE):
        proficiency_rows: list[dict[str, Any]] = []
        change_rows: list[dict[str, Any]] = []
        for person in batch:
            if person.role is not Role.VIEWER:
                focus = _focus_of(person)
                if focus not in weights_for:
                    weights_for[focus] = [_weight(skill, focus) for skill in catalogue]
                rows, changes = _proficiencies_of(
                    rng, person, focus, catalogue, weights_for[focus], now
                )
                proficiency_rows += rows
                change_rows += changes
        if proficiency_rows:
            _insert_many(session, Proficiency, proficiency_rows)
            _insert_many(session, ProficiencyChange, change_rows)
        held += len(proficiency_rows)
        done += len(batch)
        if progress is not None:
            progress(done)
    return held


def _insert_many(session: Session, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` in order, in one executemany (history ids follow time).

    Explicit NULLs give every row the same columns; otherwise the ORM splits the rows
    into one statement per run of rows that leave out the same columns.
    """
    session.execute(insert(model).execution_options(render_nulls=True), rows)


def _focus_of(person: _PlannedPerson) -> tuple[str, ...]:
    focus = [category for team in person.teams for category in team.seed.focus]
    if person.role is Role.MANAGER:
        focus += MANAGER_FOCUS
    if person.role is Role.ADMIN:
        focus += ADMIN_FOCUS
    return tuple(sorted(set(focus)))


def _weight(skill: _CatalogueSkill, focus: tuple[str, ...]) -> float:
    weight = FOCUS_WEIGHT if skill.category in focus else 1.0
    if skill.seed.popular:
        weight *= POPULAR_WEIGHT
    if skill.seed.deprecated:
        weight *= DEPRECATED_WEIGHT
    return weight


def _proficiencies_of(
    rng: random.Random,
    person: _PlannedPerson,
    focus: tuple[str, ...],
    catalogue: list[_CatalogueSkill],
    weights: list[float],
    now: datetime,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One person's proficiency rows and their history, in the order it happened."""
    verifiers = sorted(
        {
            manager.number: manager
            for team in person.teams
            for manager in team.managers
            if manager is not person
        }.items()
    )
    today = now.date()
    rows: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    for index in _weighted_sample(rng, weights, rng.randint(*PROFICIENCIES_PER_PERSON)):
        skill = catalogue[index]
        level_weights = FOCUS_LEVEL_WEIGHTS if skill.category in focus else OTHER_LEVEL_WEIGHTS
        level = rng.choices(LEVELS, level_weights)[0]
        earlier = []
        if level > 1 and rng.random() < GREW_SHARE:
            earlier = sorted(rng.sample(range(1, level), rng.randint(1, min(3, level - 1))))
        span = (now - person.joined).total_seconds()
        times = sorted(
            person.joined + timedelta(seconds=rng.uniform(0, span)) for _ in range(len(earlier) + 1)
        )
        share = INTERESTED_SHARE_GROWING if level <= 2 else INTERESTED_SHARE_ESTABLISHED
        interested = rng.random() < share
        expires_on = _expiry(rng, today) if skill.seed.certification else None
        note = _note(rng, skill, expires_on)
        base: dict[str, Any] = {"person_id": person.id, "skill_id": skill.id}
        for earlier_level, changed_at in zip(earlier, times, strict=False):
            changes.append(
                {
                    **base,
                    "action": "set",
                    "level": earlier_level,
                    "interested": True,
                    "note": "",
                    "expires_on": None,
                    "verified_by_id": None,
                    "changed_by_id": person.id,
                    "changed_at": changed_at,
                }
            )
        current: dict[str, Any] = {
            "level": level,
            "interested": interested,
            "note": note,
            "expires_on": expires_on,
        }
        changes.append(
            {
                **base,
                **current,
                "action": "set",
                "verified_by_id": None,
                "changed_by_id": person.id,
                "changed_at": times[-1],
            }
        )
        verified_by_id = None
        verified_at = None
        if verifiers and rng.random() < VERIFIED_SHARE:
            verified_by_id = rng.choice(verifiers)[1].id
            verified_at = times[-1] + (now - times[-1]) * rng.random()
            changes.append(
                {
                    **base,
                    **current,
                    "action": "verify",
                    "verified_by_id": verified_by_id,
                    "changed_by_id": verified_by_id,
                    "changed_at": verified_at,
                }
            )
        rows.append(
            {
                **base,
                **current,
                "verified_by_id": verified_by_id,
                "verified_at": verified_at,
                "updated_at": verified_at or times[-1],
            }
        )
    changes.sort(key=lambda change: change["changed_at"])
    return rows, changes


def _weighted_sample(rng: random.Random, weights: Sequence[float], count: int) -> list[int]:
    """``count`` distinct indexes, each drawn in proportion to its weight.

    Efraimidis and Spirakis (2006): the largest ``u ** (1 / weight)`` keys win.
    """
    keys = [rng.random() ** (1.0 / weight) for weight in weights]
    return heapq.nlargest(min(count, len(keys)), range(len(keys)), key=keys.__getitem__)


def _expiry(rng: random.Random, today: date) -> date | None:
    """Most certifications are current; some have lapsed, some lapse within 90 days."""
    if rng.random() >= CERTIFIED_SHARE:
        return None
    draw = rng.random()
    if draw < 0.2:
        return today - timedelta(days=rng.randint(1, 400))
    if draw < 0.45:
        return today + timedelta(days=rng.randint(0, EXPIRY_WARNING_DAYS))
    return today + timedelta(days=rng.randint(EXPIRY_WARNING_DAYS + 1, 1000))


def _note(rng: random.Random, skill: _CatalogueSkill, expires_on: date | None) -> str:
    if expires_on is not None and rng.random() < 0.5:
        return f"Certified: {skill.seed.certification}."
    if rng.random() < NOTE_SHARE:
        return rng.choice(NOTE_TEMPLATES).format(skill=skill.seed.name)
    return ""


def _backdate(session: Session, teams: list[_PlannedTeam], epoch: datetime) -> None:
    """The catalogue and the teams predate the history that refers to them.

    Every skill is the demo's (the catalogue was empty); teams may not all be.
    """
    session.execute(update(Skill).values(created_at=epoch, updated_at=epoch))
    team_ids = [team.id for team in teams]
    session.execute(update(Team).where(Team.id.in_(team_ids)).values(created_at=epoch))


def _deprecate(session: Session, catalogue: list[_CatalogueSkill]) -> None:
    """Deprecated after people recorded them, as happens to a real skill."""
    for skill in catalogue:
        if skill.seed.deprecated:
            version = get_skill(session, skill.id).version
            update_skill(session, skill_id=skill.id, if_match=etag_for(version), deprecated=True)


def _batches(items: list[_PlannedPerson], size: int) -> Iterator[list[_PlannedPerson]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
